//! Registry credentials for a pull, from (in order) NGC_KEY for nvcr.io, DOCKER_USERNAME /
//! DOCKER_PASSWORD / DOCKER_SERVER (or the SKYPILOT_DOCKER_* names), and the docker CLI's
//! config.json (inline auths, credential helpers). Values never reach a log or the store.

use base64::Engine;
use bollard::auth::DockerCredentials;
use hoist_core::{EnvSource, PlatformError};
use std::path::Path;

pub use hoist_core::registry::{registry_of, same_registry};

fn password_value(raw: &str, user: &str) -> Result<String, PlatformError> {
    hoist_sys::secret::resolve_password(raw, user).map_err(|e| PlatformError::Failed {
        message: e.message,
        hint: e.hint.into(),
    })
}

/// Credentials for pulling `image`, or `None` for an anonymous pull.
pub fn credentials_for(
    image: &str,
    env: &dyn EnvSource,
    docker_config_dir: &Path,
) -> Result<Option<DockerCredentials>, PlatformError> {
    let registry = registry_of(image);
    let creds = |user: String, pass: String| DockerCredentials {
        username: Some(user),
        password: Some(pass),
        serveraddress: Some(registry.clone()),
        ..Default::default()
    };
    if let Some(l) = hoist_core::registry::login_for(image, env) {
        let pass = password_value(&l.password, &l.username)?;
        return Ok(Some(creds(l.username, pass)));
    }
    from_docker_config(&registry, docker_config_dir)
}

fn from_docker_config(
    registry: &str,
    dir: &Path,
) -> Result<Option<DockerCredentials>, PlatformError> {
    let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else {
        return Ok(None);
    };
    let Ok(cfg) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(None);
    };
    if let Some(auths) = cfg.get("auths").and_then(|a| a.as_object()) {
        for (server, entry) in auths {
            if !same_registry(server, registry) {
                continue;
            }
            if let Some(tok) = entry.get("identitytoken").and_then(|t| t.as_str()) {
                return Ok(Some(DockerCredentials {
                    identitytoken: Some(tok.into()),
                    serveraddress: Some(registry.into()),
                    ..Default::default()
                }));
            }
            if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                if let Some((u, p)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                    return Ok(Some(DockerCredentials {
                        username: Some(u.into()),
                        password: Some(p.into()),
                        serveraddress: Some(registry.into()),
                        ..Default::default()
                    }));
                }
            }
        }
    }
    let helper = cfg
        .get("credHelpers")
        .and_then(|h| h.as_object())
        .and_then(|h| {
            h.iter()
                .find(|(server, _)| same_registry(server, registry))
                .and_then(|(_, v)| v.as_str())
        })
        .or_else(|| cfg.get("credsStore").and_then(|s| s.as_str()));
    if let Some(helper) = helper {
        return from_helper(helper, registry);
    }
    Ok(None)
}

/// `docker-credential-HELPER get` with the registry on stdin, as the docker CLI does.
fn from_helper(helper: &str, registry: &str) -> Result<Option<DockerCredentials>, PlatformError> {
    use std::io::Write;
    if !helper
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Ok(None);
    }
    let Ok(mut child) = std::process::Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        return Ok(None); // helper not installed: pull anonymously, as docker would fail to use it too
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(registry.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| PlatformError::io("running the docker credential helper", e))?;
    if !out.status.success() {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    match (
        v.get("Username").and_then(|u| u.as_str()),
        v.get("Secret").and_then(|s| s.as_str()),
    ) {
        (Some("<token>"), Some(tok)) => Ok(Some(DockerCredentials {
            identitytoken: Some(tok.into()),
            serveraddress: Some(registry.into()),
            ..Default::default()
        })),
        (Some(u), Some(p)) => Ok(Some(DockerCredentials {
            username: Some(u.into()),
            password: Some(p.into()),
            serveraddress: Some(registry.into()),
            ..Default::default()
        })),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::MapEnv;

    fn env(pairs: &[(&'static str, &str)]) -> MapEnv {
        MapEnv::of(pairs.iter().copied())
    }

    #[test]
    fn registries() {
        assert_eq!(registry_of("nvcr.io/nvidia/tao/tao-toolkit:5.5"), "nvcr.io");
        assert_eq!(registry_of("ubuntu:22.04"), "docker.io");
        assert_eq!(registry_of("library/ubuntu"), "docker.io");
        assert_eq!(registry_of("localhost:5000/x"), "localhost:5000");
    }

    #[test]
    fn ngc_then_env_then_config() {
        let d = tempfile::tempdir().expect("tmp");
        let c = credentials_for("nvcr.io/nvidia/x:1", &env(&[("NGC_KEY", "k")]), d.path())
            .expect("ok")
            .expect("creds");
        assert_eq!(
            (c.username.as_deref(), c.password.as_deref()),
            (Some("$oauthtoken"), Some("k"))
        );
        let e = env(&[
            ("DOCKER_USERNAME", "u"),
            ("DOCKER_PASSWORD", "$(printf s3cr3t)"),
            ("DOCKER_SERVER", "ghcr.io"),
        ]);
        let c = credentials_for("ghcr.io/org/img", &e, d.path())
            .expect("ok")
            .expect("creds");
        assert_eq!(
            c.password.as_deref(),
            Some("s3cr3t"),
            "a $(...) password is the command's output"
        );
        assert!(
            credentials_for("quay.io/org/img", &e, d.path())
                .expect("ok")
                .is_none(),
            "DOCKER_SERVER scopes the env credentials"
        );
        let sky = env(&[
            ("SKYPILOT_DOCKER_USERNAME", "su"),
            ("SKYPILOT_DOCKER_PASSWORD", "sp"),
        ]);
        assert_eq!(
            credentials_for("img", &sky, d.path())
                .expect("ok")
                .and_then(|c| c.username)
                .as_deref(),
            Some("su")
        );
        let auth = base64::engine::general_purpose::STANDARD.encode("cfguser:cfgpass");
        std::fs::write(
            d.path().join("config.json"),
            format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}}}}}}"#),
        )
        .expect("cfg");
        let c = credentials_for("ubuntu", &env(&[]), d.path())
            .expect("ok")
            .expect("creds");
        assert_eq!(
            (c.username.as_deref(), c.password.as_deref()),
            (Some("cfguser"), Some("cfgpass"))
        );
        let key = d.path().join("key.json");
        std::fs::write(&key, "{\"type\":\"service_account\"}").expect("key");
        let gcr = env(&[
            ("DOCKER_USERNAME", "_json_key"),
            ("DOCKER_PASSWORD", key.to_str().expect("utf8")),
        ]);
        assert!(
            credentials_for("gcr.io/p/i", &gcr, d.path())
                .expect("ok")
                .and_then(|c| c.password)
                .is_some_and(|p| p.contains("service_account"))
        );
        let failing = env(&[
            ("DOCKER_USERNAME", "u"),
            ("DOCKER_PASSWORD", "$(echo topsecret; exit 3)"),
        ]);
        let err = credentials_for("img", &failing, d.path())
            .expect_err("command fails")
            .to_string();
        assert!(!err.contains("topsecret") && !err.contains("echo"), "{err}");
    }
}
