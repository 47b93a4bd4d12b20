//! Which daemon to talk to, and how: the `docker_host` setting (flag, DOCKER_HOST, profile)
//! or the endpoint a job was submitted to, then DOCKER_HOST, then DOCKER_CONTEXT, then the
//! docker CLI's current context, then the local socket.

use bollard::{ClientVersion, Docker};
use hoist_core::{EnvSource, InputError, PlatformError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// API version spoken: 1.41 is what Docker 20.10 serves and every later engine still accepts,
/// and it has everything hoist uses (device requests came in 1.40). Pinning it saves the
/// version-negotiation round trip on every command.
pub const API_VERSION: &ClientVersion = &ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// Seconds a single API call may take.
const TIMEOUT: u64 = 120;

/// A resolved daemon endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Normalized URL: `unix:///path`, `tcp://host:port`, `ssh://[user@]host[:port]`.
    pub url: String,
    /// Client certificates for TLS over tcp.
    pub tls: Option<TlsFiles>,
    /// Where the endpoint came from, for messages.
    pub source: String,
}

/// Client key, certificate and CA for a TLS daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Directory holding key.pem, cert.pem, ca.pem.
    pub dir: PathBuf,
}

/// Normalize a DOCKER_HOST-style value.
pub fn normalize(raw: &str) -> Result<String, InputError> {
    let bad = |why: &str| {
        InputError::new(
            format!("bad Docker host {raw:?}: {why}"),
            "use unix:///var/run/docker.sock, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]",
        )
    };
    let s = raw.trim();
    if let Some(path) = s.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(bad("the socket path must be absolute"));
        }
        return Ok(format!("unix://{path}"));
    }
    if s.starts_with('/') {
        return Ok(format!("unix://{s}"));
    }
    if let Some(rest) = s
        .strip_prefix("tcp://")
        .or_else(|| s.strip_prefix("http://"))
    {
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() {
            return Err(bad("no host"));
        }
        return Ok(
            if rest
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            {
                format!("tcp://{rest}")
            } else {
                format!("tcp://{rest}:2375")
            },
        );
    }
    if s.starts_with("ssh://") {
        let t = crate::ssh::SshTarget::parse(s)
            .ok_or_else(|| bad("expected ssh://[USER@]HOST[:PORT]"))?;
        let mut url = String::from("ssh://");
        if let Some(u) = &t.user {
            url.push_str(u);
            url.push('@');
        }
        url.push_str(&t.host);
        if let Some(p) = t.port {
            url.push_str(&format!(":{p}"));
        }
        return Ok(url);
    }
    Err(bad("unknown scheme"))
}

/// Resolve the endpoint. `explicit` is the `docker_host` setting (`--docker-host`,
/// DOCKER_HOST or a profile's) or the endpoint a job was submitted to.
pub fn resolve(
    explicit: Option<&str>,
    env: &dyn EnvSource,
    docker_config_dir: &Path,
) -> Result<Endpoint, PlatformError> {
    let tls_from_env = || -> Option<TlsFiles> {
        let verify = env
            .get("DOCKER_TLS_VERIFY")
            .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"));
        verify.then(|| TlsFiles {
            dir: env
                .get("DOCKER_CERT_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| docker_config_dir.to_path_buf()),
        })
    };
    if let Some(h) = explicit {
        let url = normalize(h)?;
        // The facade folds DOCKER_HOST into the setting; name it when that is where it came from.
        let from_env = env
            .get("DOCKER_HOST")
            .is_some_and(|e| e.trim() == h.trim() || normalize(&e).is_ok_and(|n| n == url));
        return Ok(Endpoint {
            url,
            tls: tls_from_env(),
            source: if from_env {
                "DOCKER_HOST".into()
            } else {
                "--docker-host / profile".into()
            },
        });
    }
    if let Some(h) = env.get("DOCKER_HOST") {
        return Ok(Endpoint {
            url: normalize(&h)?,
            tls: tls_from_env(),
            source: "DOCKER_HOST".into(),
        });
    }
    let context = env
        .get("DOCKER_CONTEXT")
        .map(|c| (c, "DOCKER_CONTEXT"))
        .or_else(|| current_context(docker_config_dir).map(|c| (c, "docker context")));
    if let Some((name, from)) = context.filter(|(n, _)| n != "default") {
        let (host, tls) = context_endpoint(docker_config_dir, &name).ok_or_else(|| {
            PlatformError::Input(InputError::new(
                format!(
                    "Docker context {name:?} (from {from}) was not found under {}",
                    docker_config_dir.join("contexts").display()
                ),
                "list contexts with `docker context ls`, or set DOCKER_HOST",
            ))
        })?;
        return Ok(Endpoint {
            url: normalize(&host)?,
            tls,
            source: format!("{from} {name}"),
        });
    }
    Ok(Endpoint {
        url: "unix:///var/run/docker.sock".into(),
        tls: None,
        source: "default".into(),
    })
}

fn current_context(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("currentContext")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The docker CLI stores a context under the SHA-256 of its name.
fn context_endpoint(dir: &Path, name: &str) -> Option<(String, Option<TlsFiles>)> {
    let hash = hex(&Sha256::digest(name.as_bytes()));
    let meta =
        std::fs::read_to_string(dir.join("contexts/meta").join(&hash).join("meta.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&meta).ok()?;
    let host = v.pointer("/Endpoints/docker/Host")?.as_str()?.to_string();
    let tls_dir = dir.join("contexts/tls").join(&hash).join("docker");
    let tls = tls_dir
        .join("ca.pem")
        .exists()
        .then_some(TlsFiles { dir: tls_dir });
    Some((host, tls))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The docker CLI's config directory: DOCKER_CONFIG, else ~/.docker.
pub fn docker_config_dir(env: &dyn EnvSource) -> PathBuf {
    env.get("DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env.get("HOME").unwrap_or_else(|| "/root".into())).join(".docker")
        })
}

/// Open a client for the endpoint; an `ssh://` one goes through `ssh` with `ssh_options`.
/// Nothing is sent yet.
pub fn connect(
    ep: &Endpoint,
    ssh_options: &hoist_ssh::SshOptions,
) -> Result<Docker, PlatformError> {
    let unreachable = |why: String| {
        PlatformError::Unreachable { what: format!("Docker daemon {}", ep.url), why, hint: "check the endpoint (DOCKER_HOST, --docker-host, docker context) and that the daemon runs".into() }
    };
    if let Some(path) = ep.url.strip_prefix("unix://") {
        return Docker::connect_with_unix(path, TIMEOUT, API_VERSION)
            .map_err(|e| unreachable(e.to_string()));
    }
    if ep.url.starts_with("tcp://") {
        return match &ep.tls {
            Some(t) => Docker::connect_with_ssl(
                &ep.url,
                &t.dir.join("key.pem"),
                &t.dir.join("cert.pem"),
                &t.dir.join("ca.pem"),
                TIMEOUT,
                API_VERSION,
            )
            .map_err(|e| {
                unreachable(format!(
                    "TLS set-up with certificates in {}: {e}",
                    t.dir.display()
                ))
            }),
            None => Docker::connect_with_http(&ep.url, TIMEOUT, API_VERSION)
                .map_err(|e| unreachable(e.to_string())),
        };
    }
    if let Some(t) = crate::ssh::SshTarget::parse(&ep.url) {
        return crate::ssh::connect(t, ssh_options.clone(), TIMEOUT, API_VERSION)
            .map_err(|e| unreachable(e.to_string()));
    }
    Err(unreachable("unsupported endpoint".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::MapEnv;

    #[test]
    fn normalizes() {
        assert_eq!(
            normalize("/var/run/docker.sock").ok().as_deref(),
            Some("unix:///var/run/docker.sock")
        );
        assert_eq!(
            normalize("tcp://box").ok().as_deref(),
            Some("tcp://box:2375")
        );
        assert_eq!(
            normalize("tcp://box:2376/").ok().as_deref(),
            Some("tcp://box:2376")
        );
        assert_eq!(
            normalize("ssh://me@box:2222").ok().as_deref(),
            Some("ssh://me@box:2222")
        );
        for bad in ["ftp://x", "unix://rel", "ssh://-oProxyCommand=x", "tcp://"] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn precedence_and_contexts() {
        let d = tempfile::tempdir().expect("tmp");
        let env = MapEnv::of([("DOCKER_HOST", "tcp://a:1")]);
        assert_eq!(
            resolve(Some("unix:///x.sock"), &env, d.path())
                .map(|e| e.url)
                .ok()
                .as_deref(),
            Some("unix:///x.sock")
        );
        assert_eq!(
            resolve(None, &env, d.path()).map(|e| e.url).ok().as_deref(),
            Some("tcp://a:1")
        );
        let source = |h: &str| resolve(Some(h), &env, d.path()).map(|e| e.source).ok();
        assert_eq!(source("tcp://a:1").as_deref(), Some("DOCKER_HOST"));
        assert_eq!(
            source("tcp://b:1").as_deref(),
            Some("--docker-host / profile")
        );
        // a context written the way the docker CLI writes it
        let hash = hex(&Sha256::digest(b"remote"));
        let meta = d.path().join("contexts/meta").join(&hash);
        std::fs::create_dir_all(&meta).expect("mkdir");
        std::fs::write(meta.join("meta.json"), r#"{"Name":"remote","Endpoints":{"docker":{"Host":"ssh://gpu@box","SkipTLSVerify":false}}}"#).expect("meta");
        std::fs::write(
            d.path().join("config.json"),
            r#"{"currentContext":"remote"}"#,
        )
        .expect("config");
        let none = MapEnv::default();
        let ep = resolve(None, &none, d.path()).expect("context");
        assert_eq!(
            (ep.url.as_str(), ep.source.as_str()),
            ("ssh://gpu@box", "docker context remote")
        );
        let missing = MapEnv::of([("DOCKER_CONTEXT", "nope")]);
        assert!(resolve(None, &missing, d.path()).is_err());
        let tls = MapEnv::of([
            ("DOCKER_HOST", "tcp://a:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs"),
        ]);
        assert_eq!(
            resolve(None, &tls, d.path())
                .ok()
                .and_then(|e| e.tls)
                .map(|t| t.dir),
            Some(PathBuf::from("/certs"))
        );
    }
}
