//! `gc`: removing what backends keep for ended jobs (Docker's stopped containers) by age and
//! count, after each platform saves what `logs`, `why` and `show` answer from.

use crate::{Hoist, Result};
use hoist_core::{JobRecord, JobStatus, LaunchState};
use hoist_store::ListFilter;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// What `gc` removes.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Remove what ended jobs keep once they ended this long ago. `None`: each platform's
    /// `retain` setting, except that `keep` alone ignores age.
    pub older_than: Option<Duration>,
    /// Always keep the leftovers of this many most recently ended jobs.
    pub keep: Option<usize>,
    /// Only say what would be removed.
    pub dry_run: bool,
    /// Only this platform's jobs.
    pub platform: Option<String>,
}

/// One ended job whose backend leftovers `gc` removed (or, dry, would remove), or could not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Collected {
    /// The job.
    pub job_id: String,
    /// Its name.
    pub name: String,
    /// Its platform.
    pub platform: String,
    /// How it ended.
    pub status: JobStatus,
    /// When it ended (RFC 3339), as recorded.
    pub ended_at: String,
    /// Removed (`false` with `dry_run`, or when `error` says why not).
    pub removed: bool,
    /// Why it could not be removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Hoist {
    /// Remove the backend leftovers of ended jobs that ended more than the age ago (the
    /// option, else the platform's `retain` setting), keeping the newest `keep` whatever their
    /// age. Records stay: `logs`, `why` and `show` answer from what the platform saved. Jobs
    /// whose platform keeps nothing, or that were collected before, are not listed.
    pub async fn gc(&self, opts: &GcOptions) -> Result<Vec<Collected>> {
        let filter = ListFilter {
            platform: opts.platform.clone(),
            ..ListFilter::default()
        };
        let mut ended: Vec<JobRecord> = self
            .store
            .list(&filter)?
            .into_iter()
            .filter(|j| j.status.is_terminal() && j.launch_state == LaunchState::Launched)
            .collect();
        ended.sort_by_key(|j| std::cmp::Reverse(ended_at(j)));
        let keep = opts.keep.unwrap_or(0);
        // `--keep` alone means "only the newest N", whatever their age.
        let age_from_settings = opts.older_than.is_none() && opts.keep.is_none();
        let now = jiff::Timestamp::now();
        type Key = (String, Option<String>, String);
        let mut groups: BTreeMap<Key, Vec<JobRecord>> = BTreeMap::new();
        for j in ended.into_iter().skip(keep) {
            let pinned = j.pinned.as_ref().map(|p| p.to_string()).unwrap_or_default();
            groups
                .entry((j.platform.clone(), j.profile.clone(), pinned))
                .or_default()
                .push(j);
        }
        let mut out = Vec::new();
        for (_, jobs) in groups {
            let Ok(platform) = self.platform_for(&jobs[0]) else {
                // A platform that cannot be built here (a profile since deleted) keeps its
                // leftovers until it can: nothing is removed blind.
                continue;
            };
            let age = if age_from_settings {
                match platform.retention() {
                    Some(a) => a,
                    None => continue,
                }
            } else {
                opts.older_than.unwrap_or(Duration::ZERO)
            };
            let due: Vec<JobRecord> = jobs
                .into_iter()
                .filter(|j| older_than(now, ended_at(j), age))
                .collect();
            if due.is_empty() {
                continue;
            }
            let answers = platform.collect(&due, opts.dry_run).await;
            for (j, a) in due.into_iter().zip(answers) {
                let (had, error) = match a {
                    Ok(had) => (had, None),
                    Err(e) => (true, Some(e.to_string())),
                };
                if !had {
                    continue;
                }
                out.push(Collected {
                    job_id: j.job_id.clone(),
                    name: j.name.clone(),
                    platform: j.platform.clone(),
                    status: j.status,
                    ended_at: ended_at(&j).to_string(),
                    removed: !opts.dry_run && error.is_none(),
                    error,
                });
            }
        }
        Ok(out)
    }
}

/// When a job ended: its recorded finish, else its last change.
fn ended_at(j: &JobRecord) -> jiff::Timestamp {
    j.finished_at.unwrap_or(j.updated_at)
}

fn older_than(now: jiff::Timestamp, at: jiff::Timestamp, age: Duration) -> bool {
    let elapsed = now.as_millisecond().saturating_sub(at.as_millisecond());
    elapsed >= 0 && elapsed as u128 >= age.as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_is_measured_from_the_end() {
        let now: jiff::Timestamp = "2026-01-08T00:00:00Z".parse().expect("ts");
        let ended: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let day = Duration::from_secs(86_400);
        assert!(older_than(now, ended, 7 * day));
        assert!(!older_than(now, ended, 8 * day));
        assert!(older_than(now, now, Duration::ZERO));
        // A clock that went back never makes a job old.
        assert!(!older_than(ended, now, Duration::ZERO));
    }
}
