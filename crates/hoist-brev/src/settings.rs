//! What the Brev platform is configured with, what each job keeps and pins, and its
//! descriptor: the one place that knows its settings, env names and capabilities.

use crate::BrevPlatform;
use crate::cli::check_name;
use hoist_containers::options;
use hoist_core::settings::{SettingDoc, SettingKind, SettingsMap};
use hoist_core::{
    BuildContext, Capabilities, InputError, PathView, Platform, PlatformDescriptor, PlatformError,
    PlatformInfo, Readiness, RunnerDelivery,
};
use serde::{Deserialize, Serialize};

/// `instance`: the instance jobs run on.
pub const INSTANCE: SettingDoc = SettingDoc::new(
    "instance",
    SettingKind::String,
    "the Brev instance jobs run on: reused when brev ls lists it (a stopped one is started), else created with this name",
)
.flag("--instance")
.computed("hoist-<first 8 characters of the job id>, created for the job")
.per_job();

/// `gpu_type`: the GPU of an instance hoist creates.
pub const GPU_TYPE: SettingDoc = SettingDoc::new(
    "gpu_type",
    SettingKind::String,
    "GPU model of an instance hoist creates (brev create --gpu-name: A100, H100, L40S …)",
)
.flag("--gpu-type")
.computed("the model of --gpus MODEL:N, unless --instance-type is given")
.per_job();

/// `instance_type`: the machine type of an instance hoist creates.
pub const INSTANCE_TYPE: SettingDoc = SettingDoc::new(
    "instance_type",
    SettingKind::String,
    "machine type of an instance hoist creates (brev create --type, e.g. g5.xlarge; brev search lists them)",
)
.flag("--instance-type")
.per_job();

/// `brev_bin`: the CLI.
pub const BREV_BIN: SettingDoc =
    SettingDoc::new("brev_bin", SettingKind::String, "path of the brev CLI")
        .env(&["HOIST_BREV_BIN"])
        .computed("brev on PATH");

/// `ready_timeout_seconds`: how long an instance may take to become reachable.
pub const READY_TIMEOUT: SettingDoc = SettingDoc::new(
    "ready_timeout_seconds",
    SettingKind::Integer,
    "seconds an instance may take to be created or started and answer ssh before the job ends Error",
)
.default("600")
.per_job();

/// `delete_when_done`: give back an instance hoist created once its jobs end.
pub const DELETE_WHEN_DONE: SettingDoc = SettingDoc::new(
    "delete_when_done",
    SettingKind::Bool,
    "delete an instance hoist created once its last hoist job ends (brev delete)",
)
.flag("--delete-instance")
.default("false")
.per_job();

/// Every Brev setting: the instance, and every container platform's per-job settings.
pub const SETTINGS: &[SettingDoc] = &[
    INSTANCE,
    GPU_TYPE,
    INSTANCE_TYPE,
    BREV_BIN,
    READY_TIMEOUT,
    DELETE_WHEN_DONE,
    options::NETWORK,
    options::PULL,
    options::AUTO_REMOVE,
    options::MOUNTS,
    options::SHM_SIZE,
    options::USER,
    options::STOP_TIMEOUT,
];

/// The Brev platform's description.
pub static INFO: PlatformInfo = PlatformInfo {
    name: "brev",
    aliases: &["nvidia-brev"],
    summary: "NVIDIA Brev cloud GPU instances (brev CLI): each job a container on an instance hoist creates or reuses, over ssh",
    settings: SETTINGS,
    env: &[
        (
            "BREV_API_TOKEN",
            "token hoist logs the brev CLI in with when it finds it logged out (brev login --token)",
        ),
        (
            "HOME",
            "where ~/.brev (credentials, ssh_config, brev.pem) is",
        ),
        (
            "NGC_KEY",
            "pulls from nvcr.io on the instance (NGC_API_KEY also read)",
        ),
        (
            "DOCKER_USERNAME",
            "registry user for pulls on the instance (with DOCKER_PASSWORD, DOCKER_SERVER)",
        ),
    ],
    capabilities: Capabilities {
        runner: RunnerDelivery::StaticBinary,
        paths: PathView::Container,
        images: true,
        multi_node: false,
        // The instance's daemon tells when a container stops, as a local one does.
        watch: true,
        instances: true,
    },
};

/// Typed settings (keys and kinds were checked by `hoist_core::settings::resolve`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BrevSettings {
    /// Instance name.
    pub instance: Option<String>,
    /// GPU model for create.
    pub gpu_type: Option<String>,
    /// Machine type for create.
    pub instance_type: Option<String>,
    /// The CLI.
    pub brev_bin: Option<String>,
    /// Seconds to wait for an instance.
    pub ready_timeout_seconds: Option<u64>,
    /// Delete an instance hoist created when its jobs end.
    pub delete_when_done: Option<bool>,
    /// Network jobs join.
    pub network: Option<String>,
}

impl BrevSettings {
    /// Read resolved settings, refusing what brev would refuse: both a GPU and a machine
    /// type, a name brev does not allow, a bad mount or pull policy.
    pub fn from_map(m: &SettingsMap) -> Result<Self, InputError> {
        let s: BrevSettings = hoist_core::settings::typed(
            "brev",
            m,
            "hoist platforms brev lists every setting with its kind",
        )?;
        options::check("brev", m)?;
        if s.gpu_type.is_some() && s.instance_type.is_some() {
            return Err(InputError::new(
                "--gpu-type and --instance-type were both given",
                "give one: --gpu-type picks the cheapest machine with that GPU, --instance-type names the machine",
            ));
        }
        if let Some(n) = &s.instance {
            check_name(n)?;
        }
        Ok(s)
    }
}

/// What a Brev job keeps with it besides the container options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct BrevOptions {
    /// Instance named for the job.
    pub instance: Option<String>,
    /// GPU model to create with.
    pub gpu_type: Option<String>,
    /// Machine type to create with.
    pub instance_type: Option<String>,
    /// Seconds to wait for the instance.
    pub ready_timeout_seconds: Option<u64>,
    /// Delete the instance hoist created when its jobs end.
    pub delete_when_done: bool,
}

/// What a job pins: the instance (its id once the job is submitted), so later verbs find the
/// same machine through brev and never one recreated under the same name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pinned {
    /// Instance name (its ssh alias).
    pub instance: Option<String>,
    /// Brev's id for it.
    pub id: Option<String>,
}

impl Pinned {
    /// Read a pinned value leniently.
    pub fn from_value(v: Option<&serde_json::Value>) -> Pinned {
        hoist_core::settings::lenient(v)
    }
}

/// Constructs [`BrevPlatform`]s.
pub struct Descriptor;

impl PlatformDescriptor for Descriptor {
    fn info(&self) -> &'static PlatformInfo {
        &INFO
    }

    fn check(&self, settings: &SettingsMap) -> Result<(), InputError> {
        BrevSettings::from_map(settings).map(|_| ())
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &SettingsMap,
        pinned: Option<&serde_json::Value>,
    ) -> Result<Box<dyn Platform>, PlatformError> {
        let s = BrevSettings::from_map(settings)?;
        let pinned = pinned.map(|v| Pinned::from_value(Some(v)));
        Ok(Box::new(BrevPlatform::new(ctx, s, pinned)))
    }

    fn readiness(&self, ctx: &BuildContext, settings: &SettingsMap) -> Readiness {
        let s = match BrevSettings::from_map(settings) {
            Ok(s) => s,
            Err(e) => {
                return Readiness {
                    configured: false,
                    reason: e.message,
                };
            }
        };
        let bin = crate::find_bin(s.brev_bin.as_deref(), &*ctx.env);
        let creds = ctx
            .env
            .get("HOME")
            .map(|h| {
                std::path::Path::new(&h)
                    .join(".brev/credentials.json")
                    .exists()
            })
            .unwrap_or(false);
        let token = ctx.env.get("BREV_API_TOKEN").is_some();
        match bin {
            None => Readiness {
                configured: false,
                reason: "no brev CLI on PATH (or at brev_bin / HOIST_BREV_BIN)".into(),
            },
            Some(b) if creds || token => Readiness {
                configured: true,
                reason: format!(
                    "{} found, {}",
                    b.display(),
                    if token {
                        "BREV_API_TOKEN set"
                    } else {
                        "logged in (~/.brev/credentials.json)"
                    }
                ),
            },
            Some(b) => Readiness {
                configured: false,
                reason: format!(
                    "{} found, but not logged in and no BREV_API_TOKEN",
                    b.display()
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: serde_json::Value) -> SettingsMap {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn check_refuses_what_brev_would() {
        assert!(
            Descriptor
                .check(&obj(
                    json!({"instance": "my-box", "gpu_type": "A100", "mounts": ["/a:/b"]})
                ))
                .is_ok()
        );
        let both = Descriptor
            .check(&obj(
                json!({"gpu_type": "A100", "instance_type": "g5.xlarge"}),
            ))
            .expect_err("both");
        assert!(both.message.contains("--gpu-type and --instance-type"));
        let name = Descriptor
            .check(&obj(json!({"instance": "-bad name"})))
            .expect_err("name");
        assert!(name.message.contains("not a valid Brev instance name"));
        let mount = Descriptor
            .check(&obj(json!({"mounts": ["rel:/x"]})))
            .expect_err("mount");
        assert!(
            mount.message.contains("brev setting mounts"),
            "{}",
            mount.message
        );
    }

    #[test]
    fn pinned_reads_leniently() {
        assert_eq!(
            Pinned::from_value(Some(&json!({"instance": "a", "id": "x1", "other": 1}))),
            Pinned {
                instance: Some("a".into()),
                id: Some("x1".into())
            }
        );
        assert_eq!(Pinned::from_value(Some(&json!("junk"))), Pinned::default());
    }
}
