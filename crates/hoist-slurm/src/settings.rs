//! What the SLURM platform is configured with, and its descriptor: the one place that knows
//! its settings, env names and capabilities.

use crate::SlurmPlatform;
use crate::script::{CONTAINERS, ConversionSettings, ScriptSettings};
use hoist_core::settings::{SettingDoc, SettingKind, SettingsMap};
use hoist_core::{
    BuildContext, Capabilities, InputError, PathView, Platform, PlatformDescriptor, PlatformError,
    PlatformInfo, Readiness, RunnerDelivery,
};
use hoist_ssh::SshTarget;
use serde::{Deserialize, Serialize};

/// Every SLURM setting.
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc::new(
        "hosts",
        SettingKind::List,
        "login hosts (host, user@host or host:port), first preferred; the others take over when it is down",
    )
    .env(&["SLURM_HOSTNAME", "SSH_HOST"]),
    SettingDoc::new(
        "user",
        SettingKind::String,
        "login user, for hosts that name none",
    )
    .env(&["SLURM_USER", "SSH_USER"]),
    SettingDoc::new(
        "partition",
        SettingKind::String,
        "partition(s) to submit to (comma-separated: SLURM picks the first that can run the job)",
    )
    .env(&["SLURM_PARTITION"])
    .flag("--partition"),
    SettingDoc::new("account", SettingKind::String, "account jobs are charged to")
        .env(&["SLURM_ACCOUNT"])
        .flag("--account")
        .computed("what sacctmgr reports for the user"),
    SettingDoc::new(
        "base_dir",
        SettingKind::String,
        "directory on the shared filesystem for job files and results (relative: under the remote home)",
    )
    .env(&["SLURM_BASE_RESULTS_DIR"])
    .computed("~/hoist on the cluster"),
    SettingDoc::new("time_hours", SettingKind::Number, "wall time of a job, hours")
        .env(&["SLURM_TIME_HOURS"])
        .default("4"),
    SettingDoc::new(
        "timeout_hours",
        SettingKind::Number,
        "inner timeout, hours: when it fires the job requeues itself (resuming from its checkpoint) instead of being killed at the wall time",
    )
    .env(&["SLURM_TIMEOUT_HOURS"])
    .computed("time_hours - 0.2"),
    SettingDoc::new(
        "cpus_per_task",
        SettingKind::Integer,
        "CPUs per task when the job asks for none",
    )
    .env(&["SLURM_CPUS_PER_TASK"]),
    SettingDoc::new(
        "max_gpus_per_node",
        SettingKind::Integer,
        "GPUs in one node: larger requests take whole nodes",
    )
    .env(&["SLURM_MAX_GPUS_PER_NODE"])
    .default("8"),
    SettingDoc::new(
        "requeue",
        SettingKind::Bool,
        "let SLURM requeue a job after a node failure (and requeue on infrastructure errors)",
    )
    .env(&["SLURM_USE_REQUEUE"])
    .default("true"),
    SettingDoc::new("ssh_key", SettingKind::String, "private key for the login hosts")
        .env(&["SSH_KEY_PATH"]),
    SettingDoc::new(
        "accept_new_host_keys",
        SettingKind::Bool,
        "accept a login host's key on first sight (otherwise it must be in known_hosts)",
    )
    .env(&["HOIST_SSH_ACCEPT_NEW"])
    .default("false"),
    SettingDoc::new(
        "container",
        SettingKind::String,
        "container runtime for --image: pyxis, enroot, charliecloud, or none",
    )
    .flag("--container")
    .per_job()
    .computed("pyxis with an image"),
    SettingDoc::new(
        "use_sqsh",
        SettingKind::Bool,
        "convert registry images once to a cached SquashFS for pyxis too, so nodes read one file instead of pulling",
    )
    .env(&["SLURM_USE_SQSH"])
    .default("true"),
    SettingDoc::new(
        "container_mounts",
        SettingKind::List,
        "the site's shared mounts inside containers, SRC[:DST] (the single value none: no mounts)",
    )
    .env(&["SLURM_CONTAINER_MOUNTS"])
    .default("/lustre"),
    SettingDoc::new(
        "conversion_partition",
        SettingKind::String,
        "partition of the image conversion job (default: the job's)",
    )
    .env(&["SLURM_CONVERSION_PARTITION"]),
    SettingDoc::new(
        "conversion_timeout_minutes",
        SettingKind::Integer,
        "time limit of the image conversion job, minutes",
    )
    .env(&["SLURM_CONVERSION_TIMEOUT_MINUTES"])
    .default("30"),
    SettingDoc::new(
        "conversion_memory_gb",
        SettingKind::Integer,
        "memory of the image conversion job, GB",
    )
    .env(&["SLURM_CONVERSION_MEMORY_GB"])
    .default("32"),
    SettingDoc::new(
        "force_reconvert_latest",
        SettingKind::Bool,
        "convert :latest images again on every submit instead of using the cached SquashFS",
    )
    .env(&["SLURM_FORCE_RECONVERT_LATEST"])
    .default("false"),
    SettingDoc::new(
        "max_retries",
        SettingKind::Integer,
        "runs after an infrastructure failure before giving up",
    )
    .env(&["HOIST_MAX_RETRIES"])
    .default("10"),
    SettingDoc::new(
        "retain",
        SettingKind::String,
        "how long an ended job's folder on the cluster (batch script, env file, logs) is kept (90s, 12h, 7d, 2w) before hoist gc removes it, saving its logs first; hoist gc --older-than overrides it",
    )
    .env(&["HOIST_SLURM_RETAIN"])
    .default("7d"),
    SettingDoc::new(
        "follow_poll_seconds",
        SettingKind::Number,
        "how often a log follow asks squeue whether the job is still queued, seconds (a job that ends by its script wakes it at once)",
    )
    .env(&["HOIST_SLURM_FOLLOW_POLL"])
    .default("2"),
];

/// The SLURM platform's description.
pub static INFO: PlatformInfo = PlatformInfo {
    name: "slurm",
    aliases: &[],
    summary: "sbatch jobs on a SLURM cluster through ssh to a login node",
    settings: SETTINGS,
    env: &[],
    capabilities: Capabilities {
        runner: RunnerDelivery::StaticBinary,
        paths: PathView::Cluster,
        images: true,
        multi_node: true,
        watch: false,
        instances: false,
    },
};

/// Typed settings (keys and kinds were checked by `hoist_core::settings::resolve`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    /// Login hosts, first preferred.
    pub hosts: Option<Vec<String>>,
    /// Login user.
    pub user: Option<String>,
    /// Partition(s).
    pub partition: Option<String>,
    /// Account (else what sacctmgr says for the user).
    pub account: Option<String>,
    /// Base directory on the shared filesystem.
    pub base_dir: Option<String>,
    /// Wall time, hours (default 4).
    pub time_hours: Option<f64>,
    /// Inner timeout, hours (default time − 0.2).
    pub timeout_hours: Option<f64>,
    /// CPUs per task.
    pub cpus_per_task: Option<u32>,
    /// GPUs per node (default 8).
    pub max_gpus_per_node: Option<u32>,
    /// `--requeue` (default on).
    pub requeue: Option<bool>,
    /// Private key.
    pub ssh_key: Option<String>,
    /// Accept unknown host keys on first sight (opt-in).
    pub accept_new_host_keys: Option<bool>,
    /// Container runtime (per job: the platform reads it from the job's options).
    pub container: Option<String>,
    /// SquashFS conversion for pyxis too (default on).
    pub use_sqsh: Option<bool>,
    /// Shared mounts inside containers (default `/lustre`; `["none"]`: none).
    pub container_mounts: Option<Vec<String>>,
    /// Partition of the conversion job.
    pub conversion_partition: Option<String>,
    /// Time limit of the conversion job, minutes (default 30).
    pub conversion_timeout_minutes: Option<u32>,
    /// Memory of the conversion job, GB (default 32).
    pub conversion_memory_gb: Option<u32>,
    /// Convert `:latest` images on every submit.
    pub force_reconvert_latest: Option<bool>,
    /// Runs after an infrastructure failure (default 10).
    pub max_retries: Option<u32>,
    /// Seconds between a log follow's squeue checks (default 2).
    pub follow_poll_seconds: Option<f64>,
    /// How long `gc` keeps an ended job's folder (default 7d).
    pub retain: Option<String>,
}

impl SlurmSettings {
    /// Read resolved settings, refusing values the platform cannot use.
    pub fn from_map(m: &SettingsMap) -> Result<Self, InputError> {
        let s: SlurmSettings = hoist_core::settings::typed(
            "slurm",
            m,
            "cpus_per_task, max_gpus_per_node, max_retries and the conversion's minutes and GB are whole numbers from 0",
        )?;
        if let Some(c) = &s.container {
            check_container(c)?;
        }
        for h in s.hosts() {
            if SshTarget::parse(h).is_none() {
                return Err(InputError::new(
                    format!("bad SLURM login host {h:?} (setting hosts)"),
                    "use host, user@host or host:port",
                ));
            }
        }
        for (key, v) in [
            ("time_hours", s.time_hours),
            ("timeout_hours", s.timeout_hours),
        ] {
            if v.is_some_and(|h| !h.is_finite()) {
                return Err(InputError::new(
                    format!("slurm setting {key} is not a finite number of hours"),
                    format!("set {key} to a number of hours, e.g. 4"),
                ));
            }
        }
        if s.follow_poll_seconds
            .is_some_and(|v| !v.is_finite() || v < 0.2)
        {
            return Err(InputError::new(
                "slurm setting follow_poll_seconds must be a number of seconds of at least 0.2",
                "set HOIST_SLURM_FOLLOW_POLL to e.g. 2",
            ));
        }
        if let Some(r) = &s.retain {
            hoist_core::age::parse_age("slurm setting retain", r)?;
        }
        Ok(s)
    }

    /// How long `gc` keeps an ended job's folder (checked in [`Self::from_map`]).
    pub(crate) fn retention(&self) -> Option<std::time::Duration> {
        hoist_core::age::parse_age(
            "slurm setting retain",
            self.retain.as_deref().unwrap_or("7d"),
        )
        .ok()
    }

    /// The login hosts (none when unset).
    pub fn hosts(&self) -> &[String] {
        self.hosts.as_deref().unwrap_or(&[])
    }

    /// Seconds between a log follow's squeue checks.
    pub(crate) fn follow_poll(&self) -> f64 {
        self.follow_poll_seconds.unwrap_or(2.0)
    }

    pub(crate) fn conversion(&self) -> ConversionSettings {
        ConversionSettings {
            partition: self.conversion_partition.clone(),
            timeout_minutes: self.conversion_timeout_minutes,
            memory_gb: self.conversion_memory_gb,
            force_latest: self.force_reconvert_latest.unwrap_or(false),
        }
    }

    pub(crate) fn script(&self, account: Option<String>) -> ScriptSettings {
        let time = self.time_hours.unwrap_or(4.0);
        ScriptSettings {
            partition: self.partition.clone(),
            account,
            time_hours: time,
            timeout_hours: Some(self.timeout_hours.unwrap_or(time - 0.2)),
            cpus_per_task: self.cpus_per_task,
            max_gpus_per_node: self.max_gpus_per_node.unwrap_or(8),
            requeue: self.requeue.unwrap_or(true),
            max_retries: self.max_retries.unwrap_or(10),
            use_sqsh: self.use_sqsh.unwrap_or(true),
            container_mounts: match self.container_mounts.as_deref() {
                None => vec!["/lustre".into()],
                Some([only]) if only.trim() == "none" => vec![],
                Some(m) => m
                    .iter()
                    .map(|m| m.trim().to_string())
                    .filter(|m| !m.is_empty())
                    .collect(),
            },
            runner: None,
            gres_type: None,
        }
    }
}

/// Refuse a container runtime hoist does not know.
pub(crate) fn check_container(c: &str) -> Result<(), InputError> {
    if CONTAINERS.contains(&c) {
        Ok(())
    } else {
        Err(InputError::new(
            format!("unknown --container {c:?}"),
            "use none, pyxis, enroot or charliecloud",
        ))
    }
}

/// What a SLURM job keeps with it. Lenient: rows of older hoists carry `hosts` and `user` too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SlurmOptions {
    /// Container runtime for `--image`: `pyxis` (default with an image), `enroot`,
    /// `charliecloud`, or `none`.
    pub container: Option<String>,
}

/// Where a job was submitted (what [`Platform::pin`] returns). Lenient: migrated rows give
/// the old options object, `{hosts, user, container}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Pinned {
    /// Login hosts the job was submitted through.
    pub hosts: Option<Vec<String>>,
    /// Login user.
    pub user: Option<String>,
}

impl Pinned {
    /// Read a pinned value.
    pub fn from_value(v: &serde_json::Value) -> Result<Self, InputError> {
        if v.is_null() {
            return Ok(Pinned::default());
        }
        serde_json::from_value(v.clone()).map_err(|e| {
            InputError::new(
                format!("the job's recorded SLURM login hosts cannot be read: {e}"),
                "the job was written by an incompatible hoist; look it up on the cluster with squeue/sacct",
            )
        })
    }

    /// Over `s`: pinned hosts win, with their user (the configured one when none was pinned).
    pub fn apply(self, s: &mut SlurmSettings) {
        if let Some(hosts) = self.hosts.filter(|h| !h.is_empty()) {
            s.hosts = Some(hosts);
            s.user = self.user.or(s.user.take());
        }
    }
}

/// Constructs [`SlurmPlatform`]s.
pub struct Descriptor;

impl PlatformDescriptor for Descriptor {
    fn info(&self) -> &'static PlatformInfo {
        &INFO
    }

    fn check(&self, settings: &SettingsMap) -> Result<(), InputError> {
        SlurmSettings::from_map(settings).map(|_| ())
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &SettingsMap,
        pinned: Option<&serde_json::Value>,
    ) -> Result<Box<dyn Platform>, PlatformError> {
        let mut s = SlurmSettings::from_map(settings)?;
        if let Some(p) = pinned {
            Pinned::from_value(p)?.apply(&mut s);
        }
        Ok(Box::new(
            SlurmPlatform::new(&ctx.home, s)?.with_env(ctx.env.clone()),
        ))
    }

    fn readiness(&self, _ctx: &BuildContext, settings: &SettingsMap) -> Readiness {
        let hosts: Vec<&str> = settings
            .get("hosts")
            .and_then(|h| h.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        if hosts.is_empty() {
            Readiness {
                configured: false,
                reason: "no login host: set SLURM_HOSTNAME, or hosts in a slurm profile".into(),
            }
        } else {
            Readiness {
                configured: true,
                reason: format!("login host(s) {}", hosts.join(", ")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: serde_json::Value) -> SettingsMap {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn settings_become_script_settings() {
        let s = SlurmSettings::from_map(&map(json!({
            "hosts": ["login1", "me@login2:2222"],
            "time_hours": 2,
            "container_mounts": ["none"],
            "max_retries": 3,
            "use_sqsh": false,
            "conversion_memory_gb": 64,
            "force_reconvert_latest": true,
        })))
        .expect("settings");
        let sc = s.script(Some("a".into()));
        assert_eq!(sc.time_hours, 2.0);
        assert_eq!(sc.timeout_hours, Some(1.8));
        assert!(sc.container_mounts.is_empty());
        assert_eq!((sc.max_retries, sc.use_sqsh, sc.requeue), (3, false, true));
        let c = s.conversion();
        assert_eq!((c.memory_gb, c.force_latest), (Some(64), true));
        let d = SlurmSettings::default().script(None);
        assert_eq!(d.container_mounts, vec!["/lustre".to_string()]);
        assert_eq!((d.max_gpus_per_node, d.max_retries), (8, 10));
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            json!({"container": "docker"}),
            json!({"hosts": ["a@b:notaport"]}),
            json!({"cpus_per_task": -1}),
            json!({"nope": 1}),
        ] {
            assert!(SlurmSettings::from_map(&map(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn pinned_hosts_win_and_old_rows_read() {
        let mut s = SlurmSettings::from_map(&map(json!({"hosts": ["new"], "user": "now"})))
            .expect("settings");
        // An old row's whole options object.
        let old = json!({"hosts": ["old1", "old2"], "user": null, "container": "enroot"});
        Pinned::from_value(&old).expect("old row").apply(&mut s);
        assert_eq!(s.hosts(), ["old1".to_string(), "old2".to_string()]);
        assert_eq!(s.user.as_deref(), Some("now"));
        let mut s = SlurmSettings::from_map(&map(json!({"hosts": ["new"]}))).expect("settings");
        Pinned::from_value(&json!({"hosts": [], "user": "x"}))
            .expect("empty")
            .apply(&mut s);
        assert_eq!(
            (s.hosts(), s.user.as_deref()),
            (&["new".to_string()][..], None)
        );
        assert!(Pinned::from_value(&json!({"hosts": 3})).is_err());
        let o: SlurmOptions = serde_json::from_value(old).expect("options");
        assert_eq!(o.container.as_deref(), Some("enroot"));
    }

    #[test]
    fn settings_declare_their_flags() {
        for (key, flag) in [
            ("container", "--container"),
            ("partition", "--partition"),
            ("account", "--account"),
        ] {
            let d = SETTINGS.iter().find(|d| d.key == key).expect(key);
            assert_eq!(d.flag, Some(flag));
        }
        assert!(
            SETTINGS
                .iter()
                .filter(|d| d.per_job)
                .all(|d| d.key == "container")
        );
    }
}
