//! NVIDIA NGC registry models (`ngc://org[/team]/name:version`) over NGC's REST API: an API
//! key (`NGC_KEY`, `NGC_API_KEY` or `NGC_CLI_API_KEY`) is exchanged for a bearer token at the
//! auth service, the version's file list is read, and each file is fetched from its `files/`
//! URL (which redirects to storage; the bearer header is not sent across hosts). Public
//! models need no key. `NGC_ENDPOINT` and `NGC_AUTH_ENDPOINT` point at other deployments.

use crate::{EnvSource, Result, StagingError};
use hoist_core::staging::{NgcModel, parse_ngc};
use std::path::{Path, PathBuf};

/// An NGC client.
pub struct Ngc {
    http: reqwest::Client,
    api: String,
    auth: String,
    key: Option<String>,
}

#[derive(serde::Deserialize)]
struct Token {
    token: String,
}

#[derive(serde::Deserialize)]
struct Listing {
    #[serde(rename = "modelFiles", default)]
    model_files: Vec<ModelFile>,
}

#[derive(serde::Deserialize)]
struct ModelFile {
    #[serde(alias = "name")]
    path: String,
}

impl Ngc {
    /// A client configured from `env`.
    pub fn from_env(env: &dyn EnvSource) -> Result<Ngc> {
        Ok(Ngc {
            http: crate::hf::http_client()?,
            api: env
                .get("NGC_ENDPOINT")
                .unwrap_or_else(|| "https://api.ngc.nvidia.com".into())
                .trim_end_matches('/')
                .to_string(),
            auth: env
                .get("NGC_AUTH_ENDPOINT")
                .unwrap_or_else(|| "https://authn.nvidia.com".into())
                .trim_end_matches('/')
                .to_string(),
            key: ["NGC_KEY", "NGC_API_KEY", "NGC_CLI_API_KEY"]
                .iter()
                .find_map(|n| env.get(n)),
        })
    }

    fn base(&self, m: &NgcModel) -> String {
        let team = m.team.as_ref().map(|t| format!("{t}/")).unwrap_or_default();
        format!(
            "{}/v2/models/{}/{team}{}/versions/{}",
            self.api, m.org, m.name, m.version
        )
    }

    async fn token(&self, uri: &str, m: &NgcModel) -> Result<Option<String>> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let mut scope = format!("group/ngc:{}", m.org);
        if let Some(t) = &m.team {
            scope.push_str(&format!("&group/ngc:{}/{t}", m.org));
        }
        let resp = self
            .http
            .get(format!(
                "{}/token?service=ngc&scope={}",
                self.auth,
                crate::hf::enc(&scope)
            ))
            .basic_auth("$oauthtoken", Some(key))
            .send()
            .await
            .map_err(|e| StagingError::Transfer {
                what: format!("authenticating to NGC for {uri}"),
                why: e.to_string(),
                hint: format!("check that {} is reachable", self.auth),
            })?;
        if !resp.status().is_success() {
            return Err(StagingError::Denied {
                uri: uri.into(),
                why: format!("the NGC auth service answered HTTP {}", resp.status()),
                hint: "check NGC_KEY (an NGC API key of an org that can read this model)".into(),
            });
        }
        let t: Token = resp.json().await.map_err(|e| StagingError::Transfer {
            what: "reading the NGC token".into(),
            why: e.to_string(),
            hint: format!("{} does not answer like NGC's auth service", self.auth),
        })?;
        Ok(Some(t.token))
    }

    async fn get(&self, uri: &str, url: &str, token: Option<&str>) -> Result<reqwest::Response> {
        crate::hf::authed_get(
            &self.http,
            uri,
            url,
            token,
            &crate::hf::Hints {
                service: "NGC",
                unreachable: format!("check that {} is reachable (NGC_ENDPOINT)", self.api),
                not_found: "check org, team, model name and version (ngc registry model list)",
                denied: "set NGC_KEY to an API key of an org that can read this model",
            },
        )
        .await
    }

    /// The model version's files.
    pub async fn files(&self, uri: &str) -> Result<Vec<String>> {
        let m = parse_ngc(uri)?;
        let token = self.token(uri, &m).await?;
        self.list(uri, &m, token.as_deref()).await
    }

    async fn list(&self, uri: &str, m: &NgcModel, token: Option<&str>) -> Result<Vec<String>> {
        let l: Listing = self
            .get(uri, &format!("{}/files", self.base(m)), token)
            .await?
            .json()
            .await
            .map_err(|e| StagingError::Transfer {
                what: format!("reading the file list of {uri}"),
                why: e.to_string(),
                hint: format!("{} does not answer like NGC", self.api),
            })?;
        Ok(l.model_files.into_iter().map(|f| f.path).collect())
    }

    /// Whether the model version exists.
    pub async fn exists(&self, uri: &str) -> Result<bool> {
        crate::found(self.files(uri).await)
    }

    /// Every file of the model version into the directory `dest`.
    pub async fn download(&self, uri: &str, dest: &Path) -> Result<PathBuf> {
        let m = parse_ngc(uri)?;
        let token = self.token(uri, &m).await?;
        let files = self.list(uri, &m, token.as_deref()).await?;
        let base = self.base(&m);
        let files = files
            .into_iter()
            .map(|f| {
                let url = format!("{base}/files/{}", crate::hf::enc_path(&f));
                (f, url)
            })
            .collect();
        let token = token.as_deref();
        crate::hf::fetch_all(uri, dest, files, |url: String| async move {
            self.get(uri, &url, token).await
        })
        .await
    }
}
