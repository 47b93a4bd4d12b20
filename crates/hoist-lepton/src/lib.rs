//! The Lepton platform: NVIDIA DGX Cloud Lepton jobs over a workspace's REST API.
//!
//! A job is one `POST /jobs` in the official client's shape ([`body`]): the resource shape
//! resolved from `--gpus` through the node group's shapes, secret env values written once as
//! workspace secrets and referenced by name, a pull secret made from the environment's registry
//! login ([`pull`]), and for several workers the rendezvous env and node list set by hoist
//! itself. The id the server answers with (it may add a suffix) is the job's backend id.
//! Status of every job of a workspace is one listing ([`status`]), logs come from `/logs` and
//! the replicas' live streams ([`logs`]).
#![deny(missing_docs)]

pub mod body;
pub mod client;
pub mod flags;
pub mod logs;
mod place;
mod platform;
mod preflight;
pub mod pull;
pub mod settings;
pub mod status;

pub use settings::{Credentials, Descriptor, LeptonOptions, LeptonSettings, Pinned};

use client::Client;
use hoist_core::{BuildContext, PlatformError};
use std::sync::{Arc, Mutex};

/// Jobs on one Lepton workspace.
pub struct LeptonPlatform {
    ctx: BuildContext,
    settings: LeptonSettings,
    client: Arc<Client>,
    /// What later verbs need: the workspace, its URL, and the secrets made for the job.
    pinned: Mutex<Pinned>,
}

impl LeptonPlatform {
    /// Configure; contacts nothing. A missing workspace or token is an input error naming
    /// the variables.
    pub fn new(
        ctx: &BuildContext,
        settings: LeptonSettings,
        pinned: Pinned,
    ) -> Result<Self, PlatformError> {
        let creds = Credentials::resolve(&settings, &pinned, &*ctx.env)?;
        let pinned = Pinned {
            workspace: Some(creds.workspace.clone()),
            url: Some(creds.url.clone()),
            secrets: pinned.secrets,
        };
        Ok(LeptonPlatform {
            ctx: ctx.clone(),
            settings,
            client: Arc::new(Client::new(creds)?),
            pinned: Mutex::new(pinned),
        })
    }

    fn pinned(&self) -> Pinned {
        self.pinned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_secrets(&self, names: Vec<String>) {
        self.pinned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .secrets = names;
    }
}
