//! The image pull Secret hoist makes from the environment's registry login (NGC_KEY for
//! nvcr.io, DOCKER_* / SKYPILOT_DOCKER_* for others), so a private image pulls without a
//! Secret prepared by hand. A job that names its own `image_pull_secret` gets none.
//!
//! The password is resolved (a `$(cmd)` run) only for a real submit; until then the Secret
//! carries a marker naming the variable it will come from, which is also all a dry run shows.

use crate::manifest::job_name;
use crate::settings::KubeOptions;
use hoist_core::registry::{LOGIN_VARS, docker_config_json, login_for, registry_of};
use hoist_core::{EnvSource, InputError, JobSpec, PlatformError};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// The Secret type the kubelet reads registry credentials from.
pub const DOCKER_CONFIG_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// The one key of such a Secret.
pub const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";
/// Annotation naming the variable the password came from: what a masked view shows instead,
/// and what tells a cluster admin where to rotate it.
pub const PASSWORD_FROM: &str = "hoist.dev/registry-password-from";

/// The job's image pull Secret: `hoist-<job id>-pull`.
pub fn pull_secret_name(job_id: &str) -> String {
    format!("{}-pull", job_name(job_id))
}

/// A registry login for a job's image, its password either as written (maybe `$(cmd)`, never
/// shown) or resolved.
#[derive(Clone)]
pub struct PullLogin {
    /// The registry host the Secret is for.
    pub server: String,
    /// The user name.
    pub username: String,
    /// The variable the password was read from.
    pub source: &'static str,
    raw: String,
    resolved: Option<String>,
}

impl std::fmt::Debug for PullLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullLogin")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("source", &self.source)
            .field("resolved", &self.resolved.is_some())
            .finish_non_exhaustive()
    }
}

impl PullLogin {
    /// The login `env` gives for `image`, unresolved.
    pub fn for_image(image: &str, env: &dyn EnvSource) -> Option<PullLogin> {
        let login = login_for(image, env)?;
        Some(PullLogin {
            source: password_source(image, env),
            server: login.server,
            username: login.username,
            raw: login.password,
            resolved: None,
        })
    }

    /// The login a job's image pull Secret is made from: none when the job has no image or
    /// names its own `image_pull_secret` (that one wins), or the environment gives none.
    pub fn for_job(spec: &JobSpec, env: &dyn EnvSource) -> Result<Option<PullLogin>, InputError> {
        let opts = spec.options_of::<KubeOptions>("kubernetes")?;
        if opts.image_pull_secret.is_some() {
            return Ok(None);
        }
        Ok(spec
            .image
            .as_deref()
            .and_then(|image| PullLogin::for_image(image, env)))
    }

    /// The same login with its password resolved (a `$(cmd)` form runs here): only for a
    /// real submit.
    pub fn resolve(mut self) -> Result<PullLogin, PlatformError> {
        let password =
            hoist_sys::secret::resolve_password(&self.raw, &self.username).map_err(|e| {
                PlatformError::Failed {
                    message: format!(
                        "cannot make the image pull Secret for {}: {} (the password from {})",
                        self.server, e.message, self.source
                    ),
                    hint: format!(
                        "{}; or create a pull Secret yourself and name it with --image-pull-secret",
                        e.hint
                    ),
                }
            })?;
        self.resolved = Some(password);
        Ok(self)
    }

    /// Whether [`PullLogin::resolve`] ran.
    pub fn is_resolved(&self) -> bool {
        self.resolved.is_some()
    }

    /// What stands in for the password wherever it may not appear.
    pub fn marker(&self) -> String {
        marker(self.source)
    }

    /// The Secret: the docker config with the resolved password, or with [`Self::marker`]
    /// (and no `auth`) while unresolved.
    pub(crate) fn secret(&self, meta: ObjectMeta) -> Secret {
        let config = match &self.resolved {
            Some(p) => docker_config_json(&self.server, &self.username, p),
            None => masked_config(&self.server, &self.username, &self.marker()),
        };
        let mut meta = meta;
        meta.annotations
            .get_or_insert_default()
            .insert(PASSWORD_FROM.into(), self.source.into());
        Secret {
            metadata: meta,
            data: Some(BTreeMap::from([(
                DOCKER_CONFIG_KEY.to_string(),
                ByteString(config.to_string().into_bytes()),
            )])),
            type_: Some(DOCKER_CONFIG_TYPE.into()),
            ..Default::default()
        }
    }
}

fn marker(source: &str) -> String {
    format!("<redacted: from {source}>")
}

/// A docker config without the secret: the kubelet reads `username`/`password` when there is
/// no `auth`, so this is still a valid one to edit and apply.
fn masked_config(server: &str, username: &str, marker: &str) -> serde_json::Value {
    serde_json::json!({"auths": {server: {"username": username, "password": marker}}})
}

/// The variable `login_for` took the password from, found in the order it looks.
fn password_source(image: &str, env: &dyn EnvSource) -> &'static str {
    if registry_of(image) == "nvcr.io" {
        for k in ["NGC_KEY", "NGC_API_KEY"] {
            if env.get(k).is_some() {
                return k;
            }
        }
    }
    let (plain, skypilot) = LOGIN_VARS[1];
    if env.get(plain).is_some() {
        plain
    } else {
        skypilot
    }
}

/// A pull Secret as it may be shown: the config readable in `stringData`, every password the
/// marker of the variable it came from and no `auth`/token fields. The docker config stays
/// valid JSON, so the shown Secret still applies (and fails to pull until the marker is
/// replaced). `None` when `s` is not a pull Secret.
pub(crate) fn masked(s: &Secret) -> Option<Secret> {
    if s.type_.as_deref() != Some(DOCKER_CONFIG_TYPE) {
        return None;
    }
    let source = s
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PASSWORD_FROM))
        .map(String::as_str)
        .unwrap_or("the environment");
    let config = s
        .data
        .as_ref()
        .and_then(|d| d.get(DOCKER_CONFIG_KEY))
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b.0).ok());
    let shown = match config {
        Some(mut c) => {
            for entry in c["auths"]
                .as_object_mut()
                .into_iter()
                .flat_map(|a| a.values_mut())
                .filter_map(|e| e.as_object_mut())
            {
                for k in ["auth", "identitytoken", "registrytoken"] {
                    entry.remove(k);
                }
                entry.insert("password".into(), marker(source).into());
            }
            c
        }
        // Not readable as a config: nothing of it is shown.
        None => masked_config("", "", &marker(source)),
    };
    let mut out = s.clone();
    out.data = None;
    out.string_data = Some(BTreeMap::from([(
        DOCKER_CONFIG_KEY.to_string(),
        shown.to_string(),
    )]));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::MapEnv;

    fn sky() -> MapEnv {
        MapEnv::of([
            ("SKYPILOT_DOCKER_USERNAME", "robot"),
            ("SKYPILOT_DOCKER_PASSWORD", "pw-1"),
            ("SKYPILOT_DOCKER_SERVER", "registry.example.com"),
        ])
    }

    #[test]
    fn the_source_is_the_variable_login_for_read() {
        let l = PullLogin::for_image("registry.example.com/a:1", &sky()).expect("login");
        assert_eq!(
            (l.source, l.username.as_str()),
            ("SKYPILOT_DOCKER_PASSWORD", "robot")
        );
        let both = MapEnv::of([
            ("DOCKER_USERNAME", "u"),
            ("DOCKER_PASSWORD", "p"),
            ("NGC_API_KEY", "k"),
        ]);
        let l = PullLogin::for_image("ghcr.io/a/b", &both).expect("login");
        assert_eq!(l.source, "DOCKER_PASSWORD");
        let l = PullLogin::for_image("nvcr.io/nvidia/x:1", &both).expect("ngc");
        assert_eq!(
            (l.source, l.username.as_str()),
            ("NGC_API_KEY", "$oauthtoken")
        );
        assert!(
            PullLogin::for_image("ghcr.io/a/b", &sky()).is_none(),
            "scoped elsewhere"
        );
    }

    #[test]
    fn an_explicit_pull_secret_wins() {
        let mut spec = JobSpec::new(hoist_core::Command::Shell("true".into()));
        spec.image = Some("registry.example.com/a:1".into());
        assert!(PullLogin::for_job(&spec, &sky()).expect("ok").is_some());
        spec.platform_options.insert(
            "kubernetes".into(),
            serde_json::json!({"image_pull_secret": "mine"}),
        );
        assert!(PullLogin::for_job(&spec, &sky()).expect("ok").is_none());
        spec.platform_options.clear();
        spec.image = None;
        assert!(PullLogin::for_job(&spec, &sky()).expect("ok").is_none());
    }

    #[test]
    fn unresolved_secrets_and_debug_carry_no_password() {
        let l = PullLogin::for_image("registry.example.com/a:1", &sky()).expect("login");
        assert!(!format!("{l:?}").contains("pw-1"));
        let s = l.secret(ObjectMeta::default());
        let json = serde_json::to_string(&s).expect("json");
        let data = &s.data.as_ref().expect("data")[DOCKER_CONFIG_KEY].0;
        let text = String::from_utf8_lossy(data);
        assert!(!text.contains("pw-1") && !json.contains("pw-1"), "{text}");
        assert!(
            text.contains("<redacted: from SKYPILOT_DOCKER_PASSWORD>"),
            "{text}"
        );
    }

    #[test]
    fn a_resolved_secret_holds_the_login_and_masks_back_to_the_marker() {
        let l = PullLogin::for_image("registry.example.com/a:1", &sky())
            .expect("login")
            .resolve()
            .expect("a literal resolves to itself");
        assert!(l.is_resolved());
        let s = l.secret(ObjectMeta::default());
        let config: serde_json::Value =
            serde_json::from_slice(&s.data.as_ref().expect("data")[DOCKER_CONFIG_KEY].0)
                .expect("json");
        let entry = &config["auths"]["registry.example.com"];
        assert_eq!(entry["password"], "pw-1");
        assert_eq!(
            entry["auth"],
            hoist_core::registry::base64_encode(b"robot:pw-1")
        );
        let m = masked(&s).expect("a pull secret");
        let shown = serde_json::to_string(&m).expect("json");
        assert!(!shown.contains("pw-1") && !shown.contains(entry["auth"].as_str().unwrap_or("?")));
        let text = &m.string_data.as_ref().expect("stringData")[DOCKER_CONFIG_KEY];
        let back: serde_json::Value = serde_json::from_str(text).expect("still a docker config");
        assert_eq!(
            back["auths"]["registry.example.com"]["password"],
            "<redacted: from SKYPILOT_DOCKER_PASSWORD>"
        );
        assert!(
            masked(&Secret::default()).is_none(),
            "other Secrets are masked elsewhere"
        );
    }

    #[test]
    fn a_failing_password_command_says_so_without_its_output() {
        let env = MapEnv::of([
            ("DOCKER_USERNAME", "u"),
            ("DOCKER_PASSWORD", "$(echo leaked-output; exit 3)"),
        ]);
        let e = PullLogin::for_image("ghcr.io/a/b", &env)
            .expect("login")
            .resolve()
            .expect_err("the command fails");
        let text = format!("{e} {}", e.hint().unwrap_or_default());
        assert!(
            text.contains("DOCKER_PASSWORD") && text.contains("ghcr.io"),
            "{text}"
        );
        assert!(!text.contains("leaked-output"), "{text}");
    }
}
