//! The workspace's image pull secret for a job's image, made from the registry login this
//! environment gives (`hoist_core::registry::login_for`: NGC_KEY for nvcr.io, else
//! DOCKER_* / SKYPILOT_DOCKER_*), through Lepton's `/imagepullsecrets` routes. Its name comes
//! from the server and user only, so every job of one login shares it and nothing of the
//! password is in it.

use crate::LeptonPlatform;
use hoist_core::registry::{RegistryLogin, login_for};
use hoist_core::{EnvSource, PlatformError};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Characters of the sanitized registry host kept in a name (names stay a DNS label).
const SERVER_CHARS: usize = 40;

/// The pull secret a job uses, as the dry run shows it: never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSecretRef {
    /// The secret's name on the workspace.
    pub name: String,
    /// The registry it logs in to, as the secret records it.
    pub registry_server: String,
    /// The user name.
    pub username: String,
}

/// The secret's name for a login: `hoist-<server>-<8 hex of sha256(user)>`.
pub fn secret_name(server: &str, username: &str) -> String {
    let mut host = String::new();
    for c in server.to_ascii_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            host.push(c);
        } else if !host.is_empty() && !host.ends_with('-') {
            host.push('-');
        }
    }
    let mut host: String = host.chars().take(SERVER_CHARS).collect();
    while host.ends_with('-') {
        host.pop();
    }
    if host.is_empty() {
        host.push_str("registry");
    }
    let digest = Sha256::digest(username.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("hoist-{host}-{hex}")
}

/// The `registry_server` a secret records: Docker Hub under the index URL Docker's own
/// config uses, every other registry as an https URL of its host (TAO's `https://nvcr.io`).
pub fn registry_server(server: &str) -> String {
    if hoist_core::registry::same_registry(server, "docker.io") {
        "https://index.docker.io/v1/".to_string()
    } else {
        format!(
            "https://{}",
            server
                .trim_start_matches("https://")
                .trim_start_matches("http://")
        )
    }
}

/// The job's own env first (an `--env NGC_KEY` counts), then the environment hoist runs in
/// (where a task launcher puts SKYPILOT_DOCKER_*).
struct JobThenHost<'a> {
    job: &'a BTreeMap<String, String>,
    host: &'a dyn EnvSource,
}

impl EnvSource for JobThenHost<'_> {
    fn get(&self, key: &str) -> Option<String> {
        EnvSource::get(self.job, key).or_else(|| self.host.get(key))
    }
}

/// The login for `image`, reading the job's env over the host's.
pub(crate) fn login(
    image: &str,
    job: &BTreeMap<String, String>,
    host: &dyn EnvSource,
) -> Option<RegistryLogin> {
    login_for(image, &JobThenHost { job, host })
}

/// Whether a password is a command run for each use (`$(aws ecr get-login-password)`):
/// its output is short-lived, so a secret made from an earlier run may have expired.
fn is_command(raw: &str) -> bool {
    let t = raw.trim();
    t.starts_with("$(") && t.ends_with(')')
}

impl LeptonPlatform {
    /// The pull secret for `login`; with `write`, made sure to exist on the workspace first
    /// (a `$(cmd)` password is run only then).
    pub(crate) async fn pull_secret(
        &self,
        login: &RegistryLogin,
        write: bool,
    ) -> Result<PullSecretRef, PlatformError> {
        let r = PullSecretRef {
            name: secret_name(&login.server, &login.username),
            registry_server: registry_server(&login.server),
            username: login.username.clone(),
        };
        if write {
            self.ensure_pull_secret(&r, login).await?;
        }
        Ok(r)
    }

    async fn ensure_pull_secret(
        &self,
        r: &PullSecretRef,
        login: &RegistryLogin,
    ) -> Result<(), PlatformError> {
        let have = self.client.get("/imagepullsecrets", &[]).await?;
        let exists = have.as_array().into_iter().flatten().any(|s| {
            ["/metadata/name", "/metadata/id"]
                .iter()
                .any(|p| s.pointer(p).and_then(Value::as_str) == Some(r.name.as_str()))
        });
        let refresh = is_command(&login.password);
        if exists && !refresh {
            return Ok(());
        }
        let password =
            hoist_sys::secret::resolve_password(&login.password, &login.username).map_err(|e| {
                PlatformError::failed(
                    format!(
                        "the password for registry {} (NGC_KEY, DOCKER_PASSWORD or SKYPILOT_DOCKER_PASSWORD): {}",
                        login.server, e.message
                    ),
                    e.hint,
                )
            })?;
        if password.is_empty() {
            return Err(PlatformError::failed(
                format!(
                    "the password for registry {} is empty (its command printed nothing)",
                    login.server
                ),
                "run the password command by hand: it should print the registry token",
            ));
        }
        if exists {
            // Lepton has no update: the one made from an earlier run of the command goes.
            match self
                .client
                .call(
                    Method::DELETE,
                    &format!("/imagepullsecrets/{}", r.name),
                    &[],
                    None,
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.status == Some(StatusCode::NOT_FOUND) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let body = json!({
            "metadata": {"name": r.name, "id": r.name},
            "spec": {"registry_server": r.registry_server, "username": r.username, "password": password},
        });
        match self
            .client
            .call(Method::POST, "/imagepullsecrets", &[], Some(&body))
            .await
        {
            Ok(_) => Ok(()),
            // Another submit of the same login made it between the listing and now.
            Err(e) if e.status == Some(StatusCode::CONFLICT) => Ok(()),
            Err(e) => Err(scrub(e.into(), &password)),
        }
    }
}

/// The error with any echo of the password taken out (a server may quote the request).
fn scrub(e: PlatformError, password: &str) -> PlatformError {
    let text = e.to_string();
    if password.len() < 4 || !text.contains(password) {
        return e;
    }
    PlatformError::failed(
        text.replace(password, "<secret>"),
        e.hint().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::MapEnv;

    #[test]
    fn names_come_from_server_and_user_only() {
        let a = secret_name("127.0.0.1:5000", "alice");
        assert!(a.starts_with("hoist-127-0-0-1-5000-"), "{a}");
        assert_eq!(a.len(), "hoist-127-0-0-1-5000-".len() + 8);
        assert_eq!(a, secret_name("127.0.0.1:5000", "alice"), "stable");
        assert_ne!(a, secret_name("127.0.0.1:5000", "bob"));
        assert_ne!(a, secret_name("ghcr.io", "alice"));
        let n = secret_name("nvcr.io", "$oauthtoken");
        assert!(n.starts_with("hoist-nvcr-io-"), "{n}");
        let long = secret_name(&format!("{}.example.com", "x".repeat(90)), "u");
        assert!(long.len() <= 6 + SERVER_CHARS + 9, "{long}");
        for name in [a, n, long, secret_name("::", "u")] {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !name.contains("--")
                    && !name.ends_with('-'),
                "{name}"
            );
        }
    }

    #[test]
    fn registry_servers_as_the_secret_records_them() {
        assert_eq!(registry_server("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(registry_server("nvcr.io"), "https://nvcr.io");
        assert_eq!(registry_server("127.0.0.1:5000"), "https://127.0.0.1:5000");
    }

    #[test]
    fn the_jobs_env_comes_before_the_hosts() {
        let host = MapEnv::of([
            ("SKYPILOT_DOCKER_USERNAME", "u"),
            ("SKYPILOT_DOCKER_PASSWORD", "$(printf pw)"),
            ("SKYPILOT_DOCKER_SERVER", "reg.example.com:5000"),
        ]);
        let none = BTreeMap::new();
        let l = login("reg.example.com:5000/team/img:1", &none, &host).expect("host login");
        assert_eq!(
            (l.server.as_str(), l.username.as_str()),
            ("reg.example.com:5000", "u")
        );
        assert!(is_command(&l.password));
        assert!(login("ghcr.io/team/img:1", &none, &host).is_none());
        let job = BTreeMap::from([("NGC_KEY".to_string(), "k".to_string())]);
        let l = login("nvcr.io/nvidia/x:1", &job, &host).expect("ngc from the job");
        assert_eq!(l.username, "$oauthtoken");
        assert!(!is_command(&l.password));
    }

    #[test]
    fn an_echoed_password_is_scrubbed() {
        let e = PlatformError::failed("refused: bad body {\"password\":\"hunter22\"}", "fix");
        let s = scrub(e, "hunter22");
        assert!(!s.to_string().contains("hunter22"), "{s}");
        assert_eq!(s.hint().unwrap_or_default(), "fix");
    }
}
