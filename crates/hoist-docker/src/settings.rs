//! What the Docker platform is configured with, what each job keeps, and its descriptor: the
//! one place that knows its settings, env names and capabilities.

use hoist_containers::options;
use hoist_core::settings::{SettingDoc, SettingKind, SettingsMap};
use hoist_core::{
    BuildContext, Capabilities, InputError, PathView, Platform, PlatformDescriptor, PlatformError,
    PlatformInfo, Readiness, RunnerDelivery,
};
use hoist_docker_engine::endpoint;
use serde::{Deserialize, Serialize};

pub use hoist_containers::{BindMount, ContainerOptions as DockerOptions, PullPolicy};

/// `docker_host`: the daemon.
pub const DOCKER_HOST: SettingDoc = SettingDoc::new(
    "docker_host",
    SettingKind::String,
    "the Docker daemon: unix:///path, tcp://HOST:PORT (TLS with DOCKER_TLS_VERIFY) or ssh://[USER@]HOST[:PORT]",
)
.env(&["DOCKER_HOST"])
.flag("--docker-host")
.computed("DOCKER_CONTEXT, the docker CLI's current context, else unix:///var/run/docker.sock");

/// `helper_image`: what runs path checks on a remote daemon's host.
pub const HELPER_IMAGE: SettingDoc = SettingDoc::new(
    "helper_image",
    SettingKind::String,
    "a small image with /bin/sh and ls, run on a remote daemon's host to check and list paths there",
)
.env(&["HOIST_DOCKER_HELPER_IMAGE"]);

/// Every Docker setting: the daemon, the helper image, and every container platform's
/// per-job settings.
pub const SETTINGS: &[SettingDoc] = &[
    DOCKER_HOST,
    options::NETWORK,
    HELPER_IMAGE,
    options::PULL,
    options::AUTO_REMOVE,
    options::MOUNTS,
    options::SHM_SIZE,
    options::USER,
    options::STOP_TIMEOUT,
    options::RETAIN,
];

/// The Docker platform's description.
pub static INFO: PlatformInfo = PlatformInfo {
    name: "docker",
    aliases: &["local-docker", "remote-docker"],
    summary: "one container per job on a local or remote Docker daemon (unix, tcp with TLS, ssh)",
    settings: SETTINGS,
    env: &[
        (
            "DOCKER_CONTEXT",
            "docker CLI context naming the daemon when docker_host is unset",
        ),
        (
            "DOCKER_CONFIG",
            "the docker CLI's config directory (contexts, registry logins); default ~/.docker",
        ),
        (
            "DOCKER_TLS_VERIFY",
            "talk TLS to a tcp:// daemon, with client certificates",
        ),
        (
            "DOCKER_CERT_PATH",
            "directory of key.pem, cert.pem and ca.pem for TLS (default: DOCKER_CONFIG)",
        ),
        ("NGC_KEY", "pulls from nvcr.io (NGC_API_KEY also read)"),
        (
            "DOCKER_USERNAME",
            "registry user for pulls (SKYPILOT_DOCKER_USERNAME also read)",
        ),
        (
            "DOCKER_PASSWORD",
            "registry password for pulls; $(command) runs the command (SKYPILOT_DOCKER_PASSWORD also read)",
        ),
        (
            "DOCKER_SERVER",
            "the registry DOCKER_USERNAME/DOCKER_PASSWORD are for (SKYPILOT_DOCKER_SERVER also read)",
        ),
        (
            "ACCESS_KEY",
            "S3 credentials preflight looks for (with SECRET_KEY, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        ),
        ("HOME", "where ~/.docker is"),
    ],
    capabilities: Capabilities {
        runner: RunnerDelivery::StaticBinary,
        paths: PathView::Container,
        images: true,
        multi_node: false,
        watch: true,
        instances: false,
    },
};

/// Typed settings (keys and kinds were checked by `hoist_core::settings::resolve`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSettings {
    /// Endpoint (`unix://`, `tcp://`, `ssh://`); unset: context, else the local socket.
    pub docker_host: Option<String>,
    /// Network jobs join.
    pub network: Option<String>,
    /// Image for helper containers (path checks on a remote daemon's host).
    pub helper_image: Option<String>,
    /// Pull policy text (checked by [`DockerSettings::from_map`]).
    pub pull: Option<String>,
    /// Remove containers once their results are saved.
    pub auto_remove: Option<bool>,
    /// Bind mounts, `SRC:DST[:ro]` (checked by [`DockerSettings::from_map`]).
    pub mounts: Option<Vec<String>>,
    /// /dev/shm size in bytes.
    pub shm_size: Option<u64>,
    /// User to run as.
    pub user: Option<String>,
    /// Seconds between SIGTERM and SIGKILL on cancel.
    pub stop_timeout: Option<u32>,
    /// How long ended jobs' containers are kept (checked by [`DockerSettings::from_map`]).
    pub retain: Option<String>,
}

impl DockerSettings {
    /// Read resolved settings, refusing a pull policy or mount hoist cannot use.
    pub fn from_map(m: &SettingsMap) -> Result<Self, InputError> {
        let s: DockerSettings = hoist_core::settings::typed(
            "docker",
            m,
            "stop_timeout is 0 to 4294967295 seconds; hoist platforms docker lists every setting",
        )?;
        options::check("docker", m)?;
        Ok(s)
    }
}

/// What a job pins at submit: the daemon endpoint later verbs go back to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinned {
    /// Normalized endpoint URL.
    #[serde(default)]
    pub host: Option<String>,
}

impl Pinned {
    /// Read a pinned value leniently: older rows give their whole options object.
    pub fn from_value(v: Option<&serde_json::Value>) -> Pinned {
        hoist_core::settings::lenient(v)
    }
}

/// Constructs [`DockerPlatform`]s.
pub struct Descriptor;

impl PlatformDescriptor for Descriptor {
    fn info(&self) -> &'static PlatformInfo {
        &INFO
    }

    fn check(&self, settings: &SettingsMap) -> Result<(), InputError> {
        DockerSettings::from_map(settings).map(|_| ())
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &SettingsMap,
        pinned: Option<&serde_json::Value>,
    ) -> Result<Box<dyn Platform>, PlatformError> {
        let mut s = DockerSettings::from_map(settings)?;
        if let Some(host) = Pinned::from_value(pinned).host {
            s.docker_host = Some(host);
        }
        Ok(Box::new(crate::jobs(ctx, s)?))
    }

    fn readiness(&self, ctx: &BuildContext, settings: &SettingsMap) -> Readiness {
        let s = match DockerSettings::from_map(settings) {
            Ok(s) => s,
            Err(e) => {
                return Readiness {
                    configured: false,
                    reason: e.message,
                };
            }
        };
        let dir = endpoint::docker_config_dir(&*ctx.env);
        match endpoint::resolve(s.docker_host.as_deref(), &*ctx.env, &dir) {
            Err(e) => Readiness {
                configured: false,
                reason: e.to_string(),
            },
            Ok(ep) if ep.source == "default" => {
                let socket = ep.url.trim_start_matches("unix://");
                let exists = std::path::Path::new(socket).exists();
                Readiness {
                    configured: exists,
                    reason: if exists {
                        format!("the local daemon's socket {socket} exists")
                    } else {
                        format!(
                            "no docker_host, DOCKER_HOST or docker context, and no socket at {socket}"
                        )
                    },
                }
            }
            Ok(ep) => Readiness {
                configured: true,
                reason: format!("daemon {} (from {})", ep.url, ep.source),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::{MapEnv, Silent};
    use serde_json::json;
    use std::sync::Arc;

    fn obj(v: serde_json::Value) -> SettingsMap {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn mounts_and_pull() {
        let m: BindMount = "/data:/mnt/data:ro".parse().expect("mount");
        assert_eq!(
            (m.source.as_str(), m.target.as_str(), m.read_only),
            ("/data", "/mnt/data", true)
        );
        assert!(!"/a:/b".parse::<BindMount>().expect("rw").read_only);
        for bad in ["/a", "a:/b", "/a:b", "/a:/b:xx", "/a:/b:ro:x"] {
            assert!(bad.parse::<BindMount>().is_err(), "{bad}");
        }
        assert_eq!(
            "Always".parse::<PullPolicy>().ok(),
            Some(PullPolicy::Always)
        );
        assert!("sometimes".parse::<PullPolicy>().is_err());
    }

    #[test]
    fn options_read_old_and_new_rows() {
        let old = json!({
            "host": "tcp://box:2375",
            "pull": "always",
            "mounts": [{"source": "/srv", "target": "/results", "read_only": false},
                       {"source": "/d", "target": "/data", "read_only": true}],
            "shm_size": 1073741824u64,
            "user": "1000:1000",
            "auto_remove": true,
            "network": "net1",
            "stop_timeout": null
        });
        let o: DockerOptions = serde_json::from_value(old).expect("old row");
        assert_eq!(o.pull, PullPolicy::Always);
        assert_eq!(o.mounts[1].to_string(), "/d:/data:ro");
        assert_eq!(
            (o.auto_remove, o.network.as_deref(), o.stop_timeout),
            (true, Some("net1"), None)
        );
        let new = json!({"pull": "If-Not-Present", "mounts": ["/srv:/results", "/d:/data:ro"], "stop_timeout": 10});
        let n: DockerOptions = serde_json::from_value(new).expect("new row");
        assert_eq!(n.pull, PullPolicy::Missing);
        assert_eq!(n.mounts, o.mounts);
        assert_eq!(n.stop_timeout, Some(10));
        assert_eq!(
            serde_json::to_value(&n.mounts).expect("json"),
            json!(["/srv:/results", "/d:/data:ro"])
        );
        assert!(serde_json::from_value::<DockerOptions>(json!({"mounts": ["rel:/x"]})).is_err());
        assert_eq!(
            Pinned::from_value(Some(&json!({"host": "ssh://a@b", "pull": "never"}))).host,
            Some("ssh://a@b".into())
        );
        assert_eq!(Pinned::from_value(None), Pinned::default());
    }

    #[test]
    fn check_refuses_what_cannot_run() {
        assert!(
            Descriptor
                .check(&obj(
                    json!({"pull": "always", "mounts": ["/a:/b:ro"], "stop_timeout": 5})
                ))
                .is_ok()
        );
        let e = Descriptor
            .check(&obj(json!({"pull": "sometimes"})))
            .expect_err("pull");
        assert!(
            e.message.contains("pull") && e.message.contains("sometimes"),
            "{}",
            e.message
        );
        let e = Descriptor
            .check(&obj(json!({"mounts": ["/a:b"]})))
            .expect_err("mount");
        assert!(e.message.contains("mounts"), "{}", e.message);
        assert!(Descriptor.check(&obj(json!({"bogus": 1}))).is_err());
    }

    fn ctx(env: MapEnv) -> BuildContext {
        BuildContext {
            home: std::env::temp_dir(),
            exe: "hoist".into(),
            env: Arc::new(env),
            reporter: Arc::new(Silent),
        }
    }

    #[test]
    fn pinned_host_wins_and_readiness_needs_no_network() {
        let d = tempfile::tempdir().expect("tmp");
        let dir = d.path().to_str().expect("utf8");
        let c = ctx(MapEnv::of([
            ("DOCKER_HOST", "tcp://env:1"),
            ("DOCKER_CONFIG", dir),
        ]));
        let settings = obj(json!({"docker_host": "tcp://env:1"}));
        let p = Descriptor
            .build(
                &c,
                &settings,
                Some(&json!({"host": "tcp://pinned:2", "network": "n"})),
            )
            .expect("build");
        assert_eq!(p.pin(), Some(json!({"host": "tcp://pinned:2"})));
        let p = Descriptor.build(&c, &settings, None).expect("build");
        assert_eq!(p.pin(), Some(json!({"host": "tcp://env:1"})));
        assert_eq!(p.capabilities(), INFO.capabilities);
        let r = Descriptor.readiness(&c, &settings);
        assert!(r.configured && r.reason.contains("DOCKER_HOST"), "{r:?}");
        let bare = ctx(MapEnv::of([("DOCKER_CONFIG", dir), ("HOME", dir)]));
        let r = Descriptor.readiness(&bare, &SettingsMap::new());
        assert_eq!(
            r.configured,
            std::path::Path::new("/var/run/docker.sock").exists(),
            "{r:?}"
        );
    }
}
