//! The settings a container job carries (pull policy, mounts, /dev/shm, user, network, stop
//! timeout): declared once, so every platform that runs jobs through Docker offers them with
//! the same keys, kinds, flags and env names, and reads them the same way.

use hoist_core::InputError;
use hoist_core::settings::{SettingDoc, SettingKind, SettingsMap};
use serde::{Deserialize, Serialize};

pub use hoist_docker_engine::PullPolicy;

/// The network jobs join unless told otherwise.
pub const DEFAULT_NETWORK: &str = "hoist_default";

/// `network`: the network jobs join.
pub const NETWORK: SettingDoc = SettingDoc::new(
    "network",
    SettingKind::String,
    "the network jobs join, created if missing (bridge, host, none are used as they are)",
)
.env(&["DOCKER_NETWORK"])
.flag("--network")
.default(DEFAULT_NETWORK)
.per_job();

/// `pull`: when to pull the job's image.
pub const PULL: SettingDoc = SettingDoc::new(
    "pull",
    SettingKind::String,
    "when to pull the job's image: missing, always or never",
)
.env(&["DOCKER_PULL_POLICY"])
.flag("--pull")
.default("missing")
.per_job();

/// `auto_remove`: remove a finished container once its results are saved.
pub const AUTO_REMOVE: SettingDoc = SettingDoc::new(
    "auto_remove",
    SettingKind::Bool,
    "remove a job's container once its logs and exit code are saved",
)
.env(&["DOCKER_AUTO_REMOVE"])
.flag("--rm")
.default("false")
.per_job();

/// `retain`: how long an ended job's container is kept before `hoist gc` removes it.
pub const RETAIN: SettingDoc = SettingDoc::new(
    "retain",
    SettingKind::String,
    "how long an ended job's container is kept (90s, 12h, 7d, 2w) before hoist gc removes it, saving its logs and exit first; hoist gc --older-than overrides it",
)
.env(&["HOIST_DOCKER_RETAIN"])
.default("7d");

/// `mounts`: bind mounts from the daemon's host.
pub const MOUNTS: SettingDoc = SettingDoc::new(
    "mounts",
    SettingKind::List,
    "bind mounts SRC:DST[:ro]; SRC is a path on the daemon's host (a writable one at /results holds the job's results)",
)
.flag("--mount")
.per_job();

/// `shm_size`: the size of /dev/shm.
pub const SHM_SIZE: SettingDoc = SettingDoc::new(
    "shm_size",
    SettingKind::Size,
    "size of /dev/shm (unset: a tmpfs that grows with use)",
)
.flag("--shm-size")
.per_job();

/// `user`: who the job runs as.
pub const USER: SettingDoc = SettingDoc::new(
    "user",
    SettingKind::String,
    "user the job runs as (uid[:gid] or a name)",
)
.flag("--user")
.per_job();

/// `stop_timeout`: the grace period of a cancel.
pub const STOP_TIMEOUT: SettingDoc = SettingDoc::new(
    "stop_timeout",
    SettingKind::Integer,
    "seconds between SIGTERM and SIGKILL when a job is canceled",
)
.default("10")
.per_job();

/// Every per-job container setting, in the order platforms list them.
pub const JOB_SETTINGS: [SettingDoc; 7] = [
    NETWORK,
    PULL,
    AUTO_REMOVE,
    MOUNTS,
    SHM_SIZE,
    USER,
    STOP_TIMEOUT,
];

/// Refuse a pull policy or mount hoist cannot use, naming the `platform` whose setting it is.
/// Other keys in `m` are the platform's own and are left to it.
pub fn check(platform: &str, m: &SettingsMap) -> Result<(), InputError> {
    if let Some(p) = m.get("pull").and_then(|v| v.as_str()) {
        p.parse::<PullPolicy>().map_err(|_| {
            InputError::new(
                format!("{platform} setting pull (--pull, DOCKER_PULL_POLICY) is {p:?}, which is not a pull policy"),
                "use missing, always or never",
            )
        })?;
    }
    if let Some(r) = m.get("retain").and_then(|v| v.as_str()) {
        hoist_core::age::parse_age(&format!("{platform} setting retain"), r)?;
    }
    for v in m
        .get("mounts")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let text = v.as_str().unwrap_or_default();
        text.parse::<BindMount>().map_err(|e| {
            InputError::new(
                format!("{platform} setting mounts (--mount): {}", e.message),
                e.hint,
            )
        })?;
    }
    Ok(())
}

/// A bind mount, `SRC:DST[:ro]`. SRC is a path on the daemon's host.
///
/// Stored as the text `SRC:DST[:ro]`; rows written by older hoists hold the object form
/// `{source, target, read_only}`, which is read too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MountRepr", into = "String")]
pub struct BindMount {
    /// Path on the host that runs the container.
    pub source: String,
    /// Path inside the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum MountRepr {
    Text(String),
    Object {
        source: String,
        target: String,
        #[serde(default)]
        read_only: bool,
    },
}

impl TryFrom<MountRepr> for BindMount {
    type Error = InputError;
    fn try_from(r: MountRepr) -> Result<Self, InputError> {
        match r {
            MountRepr::Text(s) => s.parse(),
            MountRepr::Object {
                source,
                target,
                read_only,
            } => Ok(BindMount {
                source,
                target,
                read_only,
            }),
        }
    }
}

impl std::fmt::Display for BindMount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.source, self.target)?;
        if self.read_only {
            f.write_str(":ro")?;
        }
        Ok(())
    }
}

impl From<BindMount> for String {
    fn from(m: BindMount) -> String {
        m.to_string()
    }
}

impl std::str::FromStr for BindMount {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, InputError> {
        let bad = |why: &str| {
            InputError::new(
                format!("bad --mount {s:?}: {why}"),
                "write --mount /host/path:/container/path, or add :ro for read-only",
            )
        };
        let parts: Vec<&str> = s.split(':').collect();
        let (source, target, read_only) = match parts.as_slice() {
            [src, dst] => (*src, *dst, false),
            [src, dst, "ro"] => (*src, *dst, true),
            [src, dst, "rw"] => (*src, *dst, false),
            [_, _, mode] => return Err(bad(&format!("unknown mode {mode:?}"))),
            _ => return Err(bad("expected SRC:DST[:ro]")),
        };
        if !source.starts_with('/') || !target.starts_with('/') {
            return Err(bad("both paths must be absolute"));
        }
        Ok(BindMount {
            source: source.into(),
            target: target.into(),
            read_only,
        })
    }
}

/// What a container job keeps with it (its per-job settings), read from the job's options
/// under its platform's name. Lenient: rows from older hoists carry their whole old options
/// object (`host` included), and a platform built on this one keeps its own keys beside these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ContainerOptions {
    /// Pull policy.
    pub pull: PullPolicy,
    /// Bind mounts.
    pub mounts: Vec<BindMount>,
    /// /dev/shm size in bytes (default: a tmpfs /dev/shm).
    pub shm_size: Option<u64>,
    /// User to run as (`uid[:gid]` or a name).
    pub user: Option<String>,
    /// Remove the container once its logs and exit code are saved.
    pub auto_remove: bool,
    /// Network (default: the platform's `network` setting).
    pub network: Option<String>,
    /// Seconds between SIGTERM and SIGKILL on cancel (default 10).
    pub stop_timeout: Option<u32>,
}
