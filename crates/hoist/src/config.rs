//! `$HOIST_HOME/config.toml`: named profiles, each a platform plus its settings.
//!
//! ```toml
//! default_profile = "gpu-box"
//!
//! [profiles.gpu-box]
//! platform = "local"
//! gpus = "1"
//! env = { NCCL_DEBUG = "INFO" }
//! grace_seconds = 30          # a local-platform setting
//! ```
//!
//! Every setting follows one precedence: flag, then environment, then profile, then default
//! (`hoist_core::settings::resolve`).

use hoist_core::settings::SettingsMap;
use hoist_core::{EnvSource, InputError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Profile used when none is named.
    pub default_profile: Option<String>,
    /// Named profiles.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One profile.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Profile {
    /// Platform name.
    pub platform: Option<String>,
    /// Default image.
    pub image: Option<String>,
    /// Default GPUs (`0`, `N`, `all`, `0,1`).
    pub gpus: Option<String>,
    /// Default node count.
    pub nodes: Option<u32>,
    /// Default env.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Default labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The platform's own settings (checked against its descriptor).
    #[serde(flatten)]
    pub settings: toml::Table,
}

impl Profile {
    /// The platform settings as JSON, the form every settings layer has.
    pub fn settings_map(&self) -> SettingsMap {
        match serde_json::to_value(&self.settings) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => SettingsMap::new(),
        }
    }
}

/// Problems with the config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable file.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Bad TOML or unknown keys.
    #[error("{path} is not a valid hoist config: {detail}")]
    Parse {
        /// Path.
        path: String,
        /// What the parser said.
        detail: String,
    },
}

impl Config {
    /// Load `home/config.toml`; a missing file is an empty config.
    pub fn load(home: &Path) -> Result<Config, ConfigError> {
        let path = home.join("config.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source: e,
                });
            }
        };
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    }

    /// The profile to use: the named one (which must exist), else `HOIST_PROFILE`, else the
    /// file's default, else none.
    pub fn select(
        &self,
        name: Option<&str>,
        env: &dyn EnvSource,
    ) -> Result<Option<(String, Profile)>, InputError> {
        let env = env.get("HOIST_PROFILE");
        let Some(name) = name
            .map(str::to_string)
            .or(env)
            .or_else(|| self.default_profile.clone())
        else {
            return Ok(None);
        };
        match self.profiles.get(&name) {
            Some(p) => Ok(Some((name, p.clone()))),
            None => {
                let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                Err(InputError::new(
                    format!("unknown profile {name:?}"),
                    if known.is_empty() {
                        "define it under [profiles.NAME] in $HOIST_HOME/config.toml".to_string()
                    } else {
                        format!(
                            "known profiles: {}; or define it in $HOIST_HOME/config.toml",
                            known.join(", ")
                        )
                    },
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_and_select() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::write(
            d.path().join("config.toml"),
            "default_profile = \"a\"\n[profiles.a]\nplatform = \"local\"\ngpus = \"1\"\ngrace_seconds = 3\nenv = { X = \"1\" }\n",
        )
        .expect("write");
        let c = Config::load(d.path()).expect("load");
        let env = hoist_core::MapEnv::default();
        let (name, p) = c.select(None, &env).expect("select").expect("some");
        assert_eq!(name, "a");
        assert_eq!(p.platform.as_deref(), Some("local"));
        assert_eq!(
            p.settings.get("grace_seconds").and_then(|v| v.as_integer()),
            Some(3)
        );
        let e = c.select(Some("nope"), &env).expect_err("unknown");
        assert!(e.message.contains("nope") && e.hint.contains("a"));
    }

    #[test]
    fn bad_file_is_an_error() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::write(d.path().join("config.toml"), "profiles = 3").expect("write");
        assert!(Config::load(d.path()).is_err());
        assert!(
            Config::load(&d.path().join("absent"))
                .map(|c| c.profiles.is_empty())
                .unwrap_or(false)
        );
    }
}
