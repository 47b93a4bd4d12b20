//! Images: when to pull, and pulling with credentials and progress.

use crate::{Engine, auth};
use bollard::query_parameters::CreateImageOptions;
use futures::StreamExt;
use hoist_core::{InputError, PlatformError, ReportEvent};
use serde::{Deserialize, Serialize};

/// When to pull an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum PullPolicy {
    /// Pull only when the daemon lacks the image.
    #[default]
    Missing,
    /// Pull before every run.
    Always,
    /// Never pull; a missing image is an error.
    Never,
}

impl PullPolicy {
    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Missing => "missing",
            PullPolicy::Always => "always",
            PullPolicy::Never => "never",
        }
    }
}

impl std::str::FromStr for PullPolicy {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, InputError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "missing" | "if-not-present" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            _ => Err(InputError::new(
                format!("bad --pull value {s:?}"),
                "use missing, always or never",
            )),
        }
    }
}

impl TryFrom<String> for PullPolicy {
    type Error = InputError;
    fn try_from(s: String) -> Result<Self, InputError> {
        s.parse()
    }
}

impl Engine {
    /// Make `image` present on the daemon as `policy` says, pulling with the registry
    /// credentials [`auth::credentials_for`] finds; the pull's progress goes to the reporter
    /// as `Step`s keyed by the image, then one `Done`.
    pub async fn ensure_image(&self, image: &str, policy: PullPolicy) -> Result<(), PlatformError> {
        let d = self.client().await?;
        let present = d.inspect_image(image).await.is_ok();
        match policy {
            PullPolicy::Never if !present => {
                return Err(PlatformError::Failed {
                    message: format!(
                        "No such image: {image} on the daemon, and --pull never forbids pulling it"
                    ),
                    hint: "load or build the image on the daemon's host, or use --pull missing"
                        .into(),
                });
            }
            PullPolicy::Never | PullPolicy::Missing if present => return Ok(()),
            _ => {}
        }
        let creds = auth::credentials_for(image, &*self.env, &self.docker_config_dir)?;
        let (repo, tag) = split_tag(image);
        let opts = CreateImageOptions {
            from_image: Some(repo),
            tag: Some(tag),
            ..Default::default()
        };
        self.reporter.report(ReportEvent::Step {
            key: image,
            message: &format!("pulling {image}"),
        });
        let mut stream = d.create_image(Some(opts), None, creds);
        let mut outcome = Ok(());
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(err) = info.error_detail.and_then(|e| e.message) {
                        outcome = Err(pull_error(image, &err));
                        break;
                    }
                    if let Some(status) = info.status {
                        self.reporter.report(ReportEvent::Step {
                            key: image,
                            message: &format!("pulling {image}: {status}"),
                        });
                    }
                }
                Err(e) => {
                    outcome = Err(pull_error(image, &e.to_string()));
                    break;
                }
            }
        }
        // Ended either way: a front door clears its spinner.
        self.reporter.report(ReportEvent::Done { key: image });
        outcome
    }
}

fn split_tag(image: &str) -> (String, String) {
    // A ':' after the last '/' is a tag; before it, a registry port.
    if image.contains('@') {
        return (image.to_string(), String::new());
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

fn pull_error(image: &str, detail: &str) -> PlatformError {
    PlatformError::Failed {
        message: format!("pulling {image} failed: {detail}"),
        hint: "check the image name and registry credentials (NGC_KEY for nvcr.io, DOCKER_USERNAME/DOCKER_PASSWORD, docker login); hoist why JOB classifies it".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(split_tag("ubuntu"), ("ubuntu".into(), "latest".into()));
        assert_eq!(
            split_tag("nvcr.io/nvidia/tao:5.5-pyt"),
            ("nvcr.io/nvidia/tao".into(), "5.5-pyt".into())
        );
        assert_eq!(
            split_tag("localhost:5000/img"),
            ("localhost:5000/img".into(), "latest".into())
        );
    }
}
