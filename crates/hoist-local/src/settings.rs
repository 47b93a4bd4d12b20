//! What the local platform is configured with, and its descriptor: the one place that knows
//! its settings, env names and capabilities.

use crate::LocalPlatform;
use hoist_core::settings::{SettingDoc, SettingKind, SettingsMap};
use hoist_core::{
    BuildContext, Capabilities, InputError, PathView, Platform, PlatformDescriptor, PlatformError,
    PlatformInfo, Readiness, RunnerDelivery,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Every local setting.
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc::new(
        "grace_seconds",
        SettingKind::Integer,
        "seconds between SIGTERM and SIGKILL when a job is canceled",
    )
    .default("10")
    .per_job(),
    SettingDoc::new(
        "nvidia_smi",
        SettingKind::String,
        "the nvidia-smi that measures this host's GPUs (a path or a name on PATH)",
    )
    .env(&["HOIST_NVIDIA_SMI"])
    .default("nvidia-smi"),
    SettingDoc::new(
        "results_root",
        SettingKind::String,
        "where jobs' results go: <root>/<job id>",
    )
    .env(&["TAO_RESULTS_ROOT"])
    .computed("$HOIST_HOME/results"),
];

/// The local platform's description.
pub static INFO: PlatformInfo = PlatformInfo {
    name: "local",
    aliases: &["host", "process"],
    summary: "host processes under a detached supervisor on this machine",
    settings: SETTINGS,
    env: &[],
    capabilities: Capabilities {
        runner: RunnerDelivery::OwnExecutable,
        paths: PathView::Host,
        images: false,
        multi_node: false,
        watch: false,
        instances: false,
    },
};

/// Typed settings (keys and kinds were checked by `hoist_core::settings::resolve`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSettings {
    /// Seconds between SIGTERM and SIGKILL.
    pub grace_seconds: Option<u32>,
    /// The nvidia-smi to run.
    pub nvidia_smi: Option<String>,
    /// Results root.
    pub results_root: Option<String>,
}

impl LocalSettings {
    /// Read resolved settings.
    pub fn from_map(m: &SettingsMap) -> Result<Self, InputError> {
        hoist_core::settings::typed("local", m, "grace_seconds is 0 to 4294967295 seconds")
    }
}

/// What a local job keeps with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalOptions {
    /// Seconds between SIGTERM and SIGKILL on cancel.
    pub grace_seconds: u32,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions { grace_seconds: 10 }
    }
}

/// Constructs [`LocalPlatform`]s.
pub struct Descriptor;

impl PlatformDescriptor for Descriptor {
    fn info(&self) -> &'static PlatformInfo {
        &INFO
    }

    fn check(&self, settings: &SettingsMap) -> Result<(), InputError> {
        LocalSettings::from_map(settings).map(|_| ())
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &SettingsMap,
        _pinned: Option<&serde_json::Value>,
    ) -> Result<Box<dyn Platform>, PlatformError> {
        let s = LocalSettings::from_map(settings)?;
        let mut p = LocalPlatform::new(&ctx.home, ctx.exe.clone());
        if let Some(root) = s.results_root {
            p.results_root = PathBuf::from(root);
        }
        if let Some(smi) = s.nvidia_smi {
            p = p.with_nvidia_smi(smi);
        }
        Ok(Box::new(p))
    }

    fn readiness(&self, _ctx: &BuildContext, _settings: &SettingsMap) -> Readiness {
        Readiness {
            configured: true,
            reason: "runs on this host; needs nothing else".into(),
        }
    }
}
