//! What the Lepton platform is configured with, what each job keeps and pins, and its
//! descriptor: the one place that knows its settings, env names and capabilities.

use crate::LeptonPlatform;
use hoist_core::settings::{SettingDoc, SettingKind, SettingsMap};
use hoist_core::{
    BuildContext, Capabilities, EnvSource, InputError, PathView, Platform, PlatformDescriptor,
    PlatformError, PlatformInfo, Readiness, RunnerDelivery,
};
use serde::{Deserialize, Serialize};

/// The DGX Cloud Lepton gateway; a workspace's API is `<gateway>/api/v2/workspaces/<id>`.
pub const GATEWAY: &str = "https://gateway.dgxc-lepton.nvidia.com";

/// Every Lepton setting.
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc::new(
        "workspace",
        SettingKind::String,
        "the workspace id (a <workspace>:<token> credential, as lep login -c takes, also works)",
    )
    .env(&["LEPTON_WORKSPACE_ID"]),
    SettingDoc::new(
        "url",
        SettingKind::String,
        "the workspace's API URL",
    )
    .env(&["LEPTON_WORKSPACE_URL"])
    .computed("https://gateway.dgxc-lepton.nvidia.com/api/v2/workspaces/<workspace>"),
    SettingDoc::new(
        "node_group",
        SettingKind::String,
        "dedicated node group jobs run in (its name or id)",
    )
    .env(&["LEPTON_NODE_GROUP"])
    .flag("--node-group")
    .per_job(),
    SettingDoc::new(
        "resource_shape",
        SettingKind::String,
        "the resource shape of each worker (gpu.8xh100-sxm …)",
    )
    .flag("--resource-shape")
    .computed("the node group's shape with exactly --gpus GPUs (of the model in --gpus MODEL:N), else the smallest with more")
    .per_job(),
    SettingDoc::new(
        "ttl_seconds",
        SettingKind::Integer,
        "seconds a finished job is kept on the workspace",
    )
    .default("259200")
    .per_job(),
    SettingDoc::new(
        "max_failure_retry",
        SettingKind::Integer,
        "times Lepton runs a failed worker again",
    )
    .default("0")
    .per_job(),
    SettingDoc::new(
        "mounts",
        SettingKind::List,
        "volumes to mount, VOLUME:PATH:MOUNT_PATH (VOLUME a node group volume such as lepton-shared-fs, or node-nfs:NAME; the first holds results at MOUNT_PATH/results)",
    )
    .flag("--mount")
    .per_job(),
    SettingDoc::new(
        "image_pull_secret",
        SettingKind::String,
        "the workspace's image pull secret for the image (unset: one is made from the registry login in the environment, NGC_KEY or DOCKER_*/SKYPILOT_DOCKER_*)",
    )
    .flag("--image-pull-secret")
    .per_job(),
    SettingDoc::new(
        "runner_url",
        SettingKind::String,
        "where jobs that stage data fetch hoist's static runner from (unset: uploaded once per version to S3_BUCKET_NAME)",
    )
    .env(&["HOIST_LEPTON_RUNNER_URL"]),
];

/// The Lepton platform's description.
pub static INFO: PlatformInfo = PlatformInfo {
    name: "lepton",
    aliases: &["dgxc-lepton"],
    summary: "NVIDIA DGX Cloud Lepton jobs over the workspace's REST API, single- and multi-node",
    settings: SETTINGS,
    env: &[
        (
            "LEPTON_WORKSPACE_TOKEN",
            "the workspace's API token (LEPTON_AUTH_TOKEN, TAO's name, also read)",
        ),
        (
            "LEPTON_WORKSPACE_ORIGIN_URL",
            "the origin header to send (default: the gateway's, when the URL is the gateway)",
        ),
        (
            "NGC_KEY",
            "makes the workspace's pull secret for nvcr.io images (NGC_API_KEY also read; DOCKER_USERNAME/DOCKER_PASSWORD/DOCKER_SERVER or SKYPILOT_DOCKER_* for other registries)",
        ),
    ],
    capabilities: Capabilities {
        runner: RunnerDelivery::StaticBinary,
        paths: PathView::Container,
        images: true,
        multi_node: true,
        watch: false,
        instances: false,
    },
};

/// Typed settings (keys and kinds were checked by `hoist_core::settings::resolve`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LeptonSettings {
    /// Workspace id (or `<ws>:<token>`).
    pub workspace: Option<String>,
    /// API URL.
    pub url: Option<String>,
    /// Node group name or id.
    pub node_group: Option<String>,
    /// Resource shape.
    pub resource_shape: Option<String>,
    /// Seconds a finished job is kept.
    pub ttl_seconds: Option<u64>,
    /// Worker retries.
    pub max_failure_retry: Option<u32>,
    /// Mounts.
    pub mounts: Option<Vec<String>>,
    /// Pull secret.
    pub image_pull_secret: Option<String>,
    /// Where jobs fetch the runner.
    pub runner_url: Option<String>,
}

impl LeptonSettings {
    /// Read resolved settings, refusing mounts hoist cannot place.
    pub fn from_map(m: &SettingsMap) -> Result<Self, InputError> {
        let s: LeptonSettings = hoist_core::settings::typed(
            "lepton",
            m,
            "hoist platforms lepton lists every setting with its kind",
        )?;
        for m in s.mounts.iter().flatten() {
            m.parse::<Mount>()?;
        }
        Ok(s)
    }
}

/// What a Lepton job keeps with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct LeptonOptions {
    /// Node group name or id.
    pub node_group: Option<String>,
    /// Resource shape.
    pub resource_shape: Option<String>,
    /// Seconds a finished job is kept.
    pub ttl_seconds: Option<u64>,
    /// Worker retries.
    pub max_failure_retry: Option<u32>,
    /// Mounts, `VOLUME:PATH:MOUNT_PATH`.
    pub mounts: Vec<String>,
    /// Pull secret.
    pub image_pull_secret: Option<String>,
}

/// What a job pins: the workspace and its URL, so later verbs go back to the same one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pinned {
    /// Workspace id.
    pub workspace: Option<String>,
    /// API URL.
    pub url: Option<String>,
    /// Names of the workspace secrets hoist made for the job (deleted with it).
    pub secrets: Vec<String>,
}

/// A volume mount, `VOLUME:PATH:MOUNT_PATH`: `PATH` inside the volume at `MOUNT_PATH` in the
/// job. A volume is a node group's (`lepton-shared-fs`, taken as `node-nfs:lepton-shared-fs`)
/// or given with its kind (`node-nfs:NAME`, `node-local`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `from` in the job body.
    pub from: String,
    /// Path inside the volume.
    pub path: String,
    /// Where it appears in the job.
    pub mount_path: String,
}

impl std::str::FromStr for Mount {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, InputError> {
        let bad = |why: &str| {
            InputError::new(
                format!("bad Lepton --mount {s:?}: {why}"),
                "write --mount VOLUME:PATH:MOUNT_PATH, e.g. lepton-shared-fs:/shared/me:/mnt/shared",
            )
        };
        // The volume may itself hold a colon (node-nfs:NAME): split from the right.
        let mut parts = s.rsplitn(3, ':');
        let (Some(mount_path), Some(path), Some(volume)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected three parts"));
        };
        if volume.is_empty() {
            return Err(bad("no volume"));
        }
        if !path.starts_with('/') || !mount_path.starts_with('/') {
            return Err(bad("PATH and MOUNT_PATH must be absolute"));
        }
        const SYSTEM: &[&str] = &[
            "/", "/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/sbin", "/sys", "/usr", "/var",
        ];
        let target = match mount_path.trim_end_matches('/') {
            "" => "/",
            t => t,
        };
        if SYSTEM.contains(&target) {
            return Err(bad(&format!(
                "{mount_path} is a system path Lepton refuses to mount over"
            )));
        }
        let from = if volume.contains(':') || volume == "node-local" {
            volume.to_string()
        } else {
            format!("node-nfs:{volume}")
        };
        Ok(Mount {
            from,
            path: path.to_string(),
            mount_path: mount_path.to_string(),
        })
    }
}

/// The workspace, token, URL and origin, from the settings and this environment. The token
/// comes from the environment only (LEPTON_WORKSPACE_TOKEN, else TAO's LEPTON_AUTH_TOKEN, else
/// the token half of a `<ws>:<token>` workspace).
#[derive(Clone)]
pub struct Credentials {
    /// Workspace id.
    pub workspace: String,
    /// Bearer token.
    pub token: String,
    /// API URL.
    pub url: String,
    /// `origin` header, when one is sent.
    pub origin: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("workspace", &self.workspace)
            .field("url", &self.url)
            .field("token", &"<secret>")
            .finish()
    }
}

impl Credentials {
    /// Resolve; a missing workspace or token is an input error naming the variables.
    pub fn resolve(
        s: &LeptonSettings,
        pinned: &Pinned,
        env: &dyn EnvSource,
    ) -> Result<Credentials, InputError> {
        let raw = pinned
            .workspace
            .clone()
            .or(s.workspace.clone())
            .filter(|w| !w.trim().is_empty())
            .ok_or_else(|| {
                InputError::new(
                    "no Lepton workspace is configured",
                    "export LEPTON_WORKSPACE_ID=<workspace id> and LEPTON_WORKSPACE_TOKEN=<token> (the dashboard's credentials page), or set workspace in a lepton profile",
                )
            })?;
        let (workspace, embedded) = match raw.split_once(':') {
            Some((w, t)) => (w.trim().to_string(), Some(t.trim().to_string())),
            None => (raw.trim().to_string(), None),
        };
        let token = env
            .get("LEPTON_WORKSPACE_TOKEN")
            .or_else(|| env.get("LEPTON_AUTH_TOKEN"))
            .or(embedded)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                InputError::new(
                    format!("no token for Lepton workspace {workspace}"),
                    "export LEPTON_WORKSPACE_TOKEN (TAO's LEPTON_AUTH_TOKEN also works), or give LEPTON_WORKSPACE_ID as <workspace>:<token>",
                )
            })?;
        let url = pinned
            .url
            .clone()
            .or(s.url.clone())
            .unwrap_or_else(|| format!("{GATEWAY}/api/v2/workspaces/{workspace}"))
            .trim_end_matches('/')
            .to_string();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(InputError::new(
                format!("Lepton workspace URL {url:?} is not an http(s) URL"),
                "set LEPTON_WORKSPACE_URL to https://…/api/v2/workspaces/<id>, or unset it for the gateway",
            ));
        }
        let origin = env.get("LEPTON_WORKSPACE_ORIGIN_URL").or_else(|| {
            // The gateway wants to see itself as the origin; other URLs get none.
            url.contains("dgxc").then(|| match url.split_once("://") {
                Some((scheme, rest)) => {
                    format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest))
                }
                None => url.clone(),
            })
        });
        Ok(Credentials {
            workspace,
            token,
            url,
            origin,
        })
    }
}

impl Pinned {
    /// Read a pinned value leniently.
    pub fn from_value(v: Option<&serde_json::Value>) -> Pinned {
        hoist_core::settings::lenient(v)
    }
}

/// Constructs [`LeptonPlatform`]s.
pub struct Descriptor;

impl PlatformDescriptor for Descriptor {
    fn info(&self) -> &'static PlatformInfo {
        &INFO
    }

    fn check(&self, settings: &SettingsMap) -> Result<(), InputError> {
        LeptonSettings::from_map(settings).map(|_| ())
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &SettingsMap,
        pinned: Option<&serde_json::Value>,
    ) -> Result<Box<dyn Platform>, PlatformError> {
        let s = LeptonSettings::from_map(settings)?;
        let p = Pinned::from_value(pinned);
        Ok(Box::new(LeptonPlatform::new(ctx, s, p)?))
    }

    fn readiness(&self, ctx: &BuildContext, settings: &SettingsMap) -> Readiness {
        match LeptonSettings::from_map(settings)
            .and_then(|s| Credentials::resolve(&s, &Pinned::default(), &*ctx.env))
        {
            Ok(c) => Readiness {
                configured: true,
                reason: format!("workspace {} at {}", c.workspace, c.url),
            },
            Err(e) => Readiness {
                configured: false,
                reason: e.message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::MapEnv;

    #[test]
    fn mounts_parse_from_the_right() {
        let m: Mount = "lepton-shared-fs:/shared/me:/mnt/shared"
            .parse()
            .expect("mount");
        assert_eq!(
            (m.from.as_str(), m.path.as_str(), m.mount_path.as_str()),
            ("node-nfs:lepton-shared-fs", "/shared/me", "/mnt/shared")
        );
        let m: Mount = "node-nfs:fs1:/:/data".parse().expect("kind given");
        assert_eq!((m.from.as_str(), m.path.as_str()), ("node-nfs:fs1", "/"));
        for bad in ["/a:/b", "fs:rel:/x", "fs:/a:/etc", "fs:/a:/", ":/a:/b"] {
            assert!(bad.parse::<Mount>().is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_from_env_credential_and_gateway_origin() {
        let s = LeptonSettings {
            workspace: Some("ws1".into()),
            ..Default::default()
        };
        let env = MapEnv::of([("LEPTON_AUTH_TOKEN", "tao-tok")]);
        let c = Credentials::resolve(&s, &Pinned::default(), &env).expect("creds");
        assert_eq!(c.token, "tao-tok");
        assert_eq!(c.url, format!("{GATEWAY}/api/v2/workspaces/ws1"));
        assert_eq!(c.origin.as_deref(), Some(GATEWAY));
        assert!(!format!("{c:?}").contains("tao-tok"));
        let combined = LeptonSettings {
            workspace: Some("ws2:tok2".into()),
            url: Some("http://127.0.0.1:9/api/v2/workspaces/ws2".into()),
            ..Default::default()
        };
        let c = Credentials::resolve(&combined, &Pinned::default(), &MapEnv::default())
            .expect("combined");
        assert_eq!((c.workspace.as_str(), c.token.as_str()), ("ws2", "tok2"));
        assert_eq!(c.origin, None);
        let e = Credentials::resolve(&LeptonSettings::default(), &Pinned::default(), &env)
            .expect_err("no workspace");
        assert!(
            e.hint.contains("LEPTON_WORKSPACE_ID") && e.hint.contains("LEPTON_WORKSPACE_TOKEN")
        );
        let e =
            Credentials::resolve(&s, &Pinned::default(), &MapEnv::default()).expect_err("no token");
        assert!(e.hint.contains("LEPTON_WORKSPACE_TOKEN"));
    }
}
