//! Hugging Face Hub repositories (`hf_model://org/name[@rev]`, `hf_dataset://…`) over the
//! Hub's HTTP API: one call for the file list at a revision, then each file from its
//! `resolve` URL. `HF_TOKEN` for private or gated repositories, `HF_ENDPOINT` for a mirror.

use crate::progress::Progress;
use crate::{EnvSource, Result, StagingError};
use hoist_core::staging::{HfRepo, parse_hf, safe_member_path};
use std::path::{Path, PathBuf};

const PARALLEL_FILES: usize = 8;

/// A Hub client.
pub struct Hub {
    http: reqwest::Client,
    endpoint: String,
    token: Option<String>,
}

#[derive(serde::Deserialize)]
struct RepoInfo {
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(serde::Deserialize)]
struct Sibling {
    rfilename: String,
}

pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Hub {
    /// A client for `HF_ENDPOINT` (default https://huggingface.co) with `HF_TOKEN`.
    pub fn from_env(env: &dyn EnvSource) -> Result<Hub> {
        Ok(Hub {
            http: http_client()?,
            endpoint: env
                .get("HF_ENDPOINT")
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .to_string(),
            token: env.get("HF_TOKEN"),
        })
    }

    fn kind(r: &HfRepo) -> &'static str {
        if r.dataset { "datasets" } else { "models" }
    }

    async fn get(&self, uri: &str, url: &str) -> Result<reqwest::Response> {
        authed_get(
            &self.http,
            uri,
            url,
            self.token.as_deref(),
            &Hints {
                service: "the Hub",
                unreachable: format!("check that {} is reachable (HF_ENDPOINT)", self.endpoint),
                not_found: "check the repository name and revision (private repositories answer 404 without HF_TOKEN)",
                denied: "set HF_TOKEN to a token that can read this repository (gated models need their licence accepted)",
            },
        )
        .await
    }

    /// The repository's files at its revision.
    pub async fn files(&self, uri: &str) -> Result<Vec<String>> {
        let r = parse_hf(uri)?;
        let url = format!(
            "{}/api/{}/{}/revision/{}",
            self.endpoint,
            Self::kind(&r),
            r.repo,
            enc(&r.revision)
        );
        let info: RepoInfo =
            self.get(uri, &url)
                .await?
                .json()
                .await
                .map_err(|e| StagingError::Transfer {
                    what: format!("reading the file list of {uri}"),
                    why: e.to_string(),
                    hint: format!(
                        "{} does not answer like the Hugging Face Hub",
                        self.endpoint
                    ),
                })?;
        Ok(info.siblings.into_iter().map(|s| s.rfilename).collect())
    }

    /// Whether the repository exists at its revision.
    pub async fn exists(&self, uri: &str) -> Result<bool> {
        crate::found(self.files(uri).await)
    }

    /// Every file of the repository into the directory `dest`.
    pub async fn download(&self, uri: &str, dest: &Path) -> Result<PathBuf> {
        let r = parse_hf(uri)?;
        let files = self.files(uri).await?;
        let prefix = if r.dataset { "/datasets" } else { "" };
        let files = files.into_iter().map(|f| {
            let url = format!(
                "{}{prefix}/{}/resolve/{}/{}",
                self.endpoint,
                r.repo,
                enc(&r.revision),
                enc_path(&f)
            );
            (f, url)
        });
        fetch_all(uri, dest, files.collect(), |url: String| async move {
            self.get(uri, &url).await
        })
        .await
    }
}

/// Fetch repository files (relative name, URL) into `dest` in parallel; names that would
/// leave `dest` are refused.
pub(crate) async fn fetch_all<'a, F, Fut>(
    uri: &str,
    dest: &Path,
    files: Vec<(String, String)>,
    get: F,
) -> Result<PathBuf>
where
    F: Fn(String) -> Fut + 'a,
    Fut: std::future::Future<Output = Result<reqwest::Response>> + 'a,
{
    let progress = Progress::bytes(uri, 0);
    let jobs = files.into_iter().map(|(f, url)| {
        let (progress, get) = (&progress, &get);
        async move {
            let rel = safe_member_path(&f).ok_or_else(|| StagingError::UnsafeArchive {
                archive: uri.into(),
                member: f.clone(),
                dir: dest.display().to_string(),
            })?;
            let resp = get(url).await?;
            save(uri, &f, resp, &dest.join(rel), progress).await
        }
    });
    crate::all_into(jobs, PARALLEL_FILES, &progress, dest).await
}

/// An HTTP client that works in images without a CA bundle (Mozilla's roots built in).
pub(crate) fn http_client() -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder();
    if !crate::system_ca_present() {
        b = b.tls_certs_only(
            crate::builtin_roots().filter_map(|der| reqwest::Certificate::from_der(der).ok()),
        );
    }
    b.connect_timeout(std::time::Duration::from_secs(10))
        .user_agent(concat!("hoist/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StagingError::Transfer {
            what: "setting up the HTTP client".into(),
            why: e.to_string(),
            hint: "check the TLS set-up of this machine".into(),
        })
}

/// A repository path with each segment percent-encoded.
pub(crate) fn enc_path(p: &str) -> String {
    p.split('/').map(enc).collect::<Vec<_>>().join("/")
}

/// Stream a response body into `to` (parents created), counting bytes.
pub(crate) async fn save(
    uri: &str,
    name: &str,
    mut resp: reqwest::Response,
    to: &Path,
    progress: &Progress,
) -> Result<()> {
    if let Some(p) = to.parent() {
        tokio::fs::create_dir_all(p)
            .await
            .map_err(|e| StagingError::io(format!("creating {}", p.display()), e))?;
    }
    let mut out = tokio::fs::File::create(to)
        .await
        .map_err(|e| StagingError::io(format!("creating {}", to.display()), e))?;
    while let Some(chunk) = resp.chunk().await.map_err(|e| StagingError::Transfer {
        what: format!("downloading {name} of {uri}"),
        why: e.to_string(),
        hint: "try again; the connection broke".into(),
    })? {
        tokio::io::AsyncWriteExt::write_all(&mut out, &chunk)
            .await
            .map_err(|e| StagingError::io(format!("writing {}", to.display()), e))?;
        progress.add(chunk.len() as u64);
    }
    tokio::io::AsyncWriteExt::flush(&mut out)
        .await
        .map_err(|e| StagingError::io(format!("writing {}", to.display()), e))
}

/// What to tell a user for each way an HTTP model store answers.
pub(crate) struct Hints {
    /// The service's name in "… answered with an error".
    pub service: &'static str,
    /// When the request could not be sent.
    pub unreachable: String,
    /// On 404.
    pub not_found: &'static str,
    /// On 401/403.
    pub denied: &'static str,
}

/// GET `url` (with a bearer token when there is one), mapping the status to what it means.
pub(crate) async fn authed_get(
    http: &reqwest::Client,
    uri: &str,
    url: &str,
    token: Option<&str>,
    hints: &Hints,
) -> Result<reqwest::Response> {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| StagingError::Transfer {
        what: format!("fetching {uri}"),
        why: e.to_string(),
        hint: hints.unreachable.clone(),
    })?;
    match resp.status().as_u16() {
        200..=299 => Ok(resp),
        404 => Err(StagingError::NotFound {
            uri: uri.into(),
            hint: hints.not_found.into(),
        }),
        401 | 403 => Err(StagingError::Denied {
            uri: uri.into(),
            why: format!("HTTP {}", resp.status()),
            hint: hints.denied.into(),
        }),
        s => Err(StagingError::Transfer {
            what: format!("fetching {uri}"),
            why: format!("HTTP {s}"),
            hint: format!("try again later; {} answered with an error", hints.service),
        }),
    }
}
