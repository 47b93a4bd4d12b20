//! What each daemon said about itself, kept for the process: `/info` is the slowest call a
//! status makes, and a cancel or a wait would otherwise ask it several times.

use crate::DaemonInfo;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a daemon's answer is trusted. A long-lived process (a workflow driver, a Python
/// host) asks again after this, so a daemon replaced behind the same endpoint is still
/// noticed by the identity check.
pub const DAEMON_INFO_TTL: Duration = Duration::from_secs(60);

fn cache() -> &'static Mutex<HashMap<String, (Instant, DaemonInfo)>> {
    static CACHE: OnceLock<Mutex<HashMap<String, (Instant, DaemonInfo)>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The daemon at `key`, when it answered within [`DAEMON_INFO_TTL`].
pub(crate) fn get(key: &str) -> Option<DaemonInfo> {
    // A poisoned lock only means another thread panicked mid-insert: ask the daemon again.
    let map = cache().lock().ok()?;
    map.get(key)
        .filter(|(at, _)| at.elapsed() < DAEMON_INFO_TTL)
        .map(|(_, info)| info.clone())
}

/// Remember what the daemon at `key` said.
pub(crate) fn put(key: String, info: &DaemonInfo) {
    if let Ok(mut map) = cache().lock() {
        map.insert(key, (Instant::now(), info.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_kept_per_endpoint() {
        let info = DaemonInfo {
            id: "D1".into(),
            version: "27".into(),
            tegra: false,
            runtimes: vec![],
        };
        put("unix:///cache-test-a.sock".into(), &info);
        assert_eq!(get("unix:///cache-test-a.sock"), Some(info));
        assert_eq!(get("unix:///cache-test-b.sock"), None);
    }
}
