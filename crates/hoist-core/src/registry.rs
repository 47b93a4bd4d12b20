//! Which registry an image comes from, and the login this environment gives for it:
//! `NGC_KEY` for nvcr.io, else `DOCKER_USERNAME/PASSWORD/SERVER` (or SkyPilot's
//! `SKYPILOT_DOCKER_*` names). Every platform that pulls images reads the same variables, so
//! a task's private registry works on Docker, Kubernetes, SLURM and Lepton alike. A password
//! written `$(cmd)` is resolved by the platform where it runs the pull (see hoist-sys).

use crate::EnvSource;

/// The registry host of an image reference (`docker.io` when none is named).
pub fn registry_of(image: &str) -> String {
    let first = image.split('/').next().unwrap_or("");
    if image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost") {
        first.to_string()
    } else {
        "docker.io".to_string()
    }
}

/// Whether two spellings name one registry (`https://index.docker.io/v1/` is `docker.io`).
pub fn same_registry(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let s = s
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let s = s.split('/').next().unwrap_or(s);
        match s {
            "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
            other => other.to_string(),
        }
    };
    norm(a) == norm(b)
}

/// A registry login as the environment gives it. `password` is as written: a `$(cmd)`
/// form is still a command here.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryLogin {
    /// The registry host (`nvcr.io`, `127.0.0.1:5000`).
    pub server: String,
    /// User name (`$oauthtoken` for NGC).
    pub username: String,
    /// Password, token or `$(cmd)`.
    pub password: String,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryLogin")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("password", &"<secret>")
            .finish()
    }
}

/// The names a login is read from, first the plain ones.
pub const LOGIN_VARS: [(&str, &str); 3] = [
    ("DOCKER_USERNAME", "SKYPILOT_DOCKER_USERNAME"),
    ("DOCKER_PASSWORD", "SKYPILOT_DOCKER_PASSWORD"),
    ("DOCKER_SERVER", "SKYPILOT_DOCKER_SERVER"),
];

/// The login this environment gives for pulling `image`, if any. `DOCKER_SERVER` scopes
/// the plain login to one registry; without it the login is for the image's registry.
pub fn login_for(image: &str, env: &dyn EnvSource) -> Option<RegistryLogin> {
    let registry = registry_of(image);
    if registry == "nvcr.io"
        && let Some(key) = env.get("NGC_KEY").or_else(|| env.get("NGC_API_KEY"))
    {
        return Some(RegistryLogin {
            server: registry,
            username: "$oauthtoken".into(),
            password: key,
        });
    }
    let pick = |(a, b): (&str, &str)| env.get(a).or_else(|| env.get(b));
    let user = pick(LOGIN_VARS[0])?;
    let password = pick(LOGIN_VARS[1])?;
    let server = pick(LOGIN_VARS[2]);
    if server
        .as_deref()
        .is_some_and(|s| !s.is_empty() && !same_registry(s, &registry))
    {
        return None;
    }
    Some(RegistryLogin {
        server: registry,
        username: user,
        password,
    })
}

/// The `.dockerconfigjson` a Kubernetes image pull Secret (or any docker-config consumer)
/// holds for one login, with the password already resolved.
pub fn docker_config_json(server: &str, username: &str, password: &str) -> serde_json::Value {
    let auth = base64_encode(format!("{username}:{password}").as_bytes());
    serde_json::json!({"auths": {server: {"username": username, "password": password, "auth": auth}}})
}

/// Standard base64 with padding (the docker config's `auth` field).
pub fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MapEnv;

    #[test]
    fn registries() {
        assert_eq!(registry_of("nvcr.io/nvidia/tao/tao-toolkit:5.5"), "nvcr.io");
        assert_eq!(registry_of("ubuntu:22.04"), "docker.io");
        assert_eq!(registry_of("localhost:5000/x"), "localhost:5000");
        assert!(same_registry("https://index.docker.io/v1/", "docker.io"));
    }

    #[test]
    fn logins() {
        let e = MapEnv::of([("NGC_KEY", "k")]);
        let l = login_for("nvcr.io/nvidia/x:1", &e).expect("ngc");
        assert_eq!(
            (l.username.as_str(), l.password.as_str()),
            ("$oauthtoken", "k")
        );
        assert!(
            format!("{l:?}").contains("<secret>"),
            "Debug masks the password"
        );
        let sky = MapEnv::of([
            ("SKYPILOT_DOCKER_USERNAME", "u"),
            ("SKYPILOT_DOCKER_PASSWORD", "p"),
            ("SKYPILOT_DOCKER_SERVER", "127.0.0.1:5000"),
        ]);
        let l = login_for("127.0.0.1:5000/a/b:1", &sky).expect("scoped");
        assert_eq!(l.server, "127.0.0.1:5000");
        assert!(login_for("ghcr.io/a/b", &sky).is_none(), "another registry");
        assert!(login_for("img", &MapEnv::of([("DOCKER_USERNAME", "u")])).is_none());
    }

    #[test]
    fn docker_config() {
        assert_eq!(base64_encode(b"u:p"), "dTpw");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"a"), "YQ==");
        let c = docker_config_json("r:5000", "u", "p");
        assert_eq!(c["auths"]["r:5000"]["auth"], "dTpw");
    }
}
