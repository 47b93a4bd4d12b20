//! The workspace's REST API: bearer token, the gateway's `origin` header, one-line errors with
//! the status, the server's message and the fix; `429 Retry-After` honoured. The token is in
//! the Authorization header only: never in a URL, a message or a log.

use crate::settings::Credentials;
use hoist_core::PlatformError;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Seconds one API call may take (the official client's default).
const TIMEOUT: Duration = Duration::from_secs(120);

/// Times a 429 is waited out before it is an error.
const THROTTLE_RETRIES: u32 = 5;

/// One workspace's API.
pub struct Client {
    http: reqwest::Client,
    creds: Credentials,
}

/// A failed call: the HTTP status when the server answered.
#[derive(Debug)]
pub struct ApiError {
    /// Status, when there was an answer.
    pub status: Option<StatusCode>,
    /// The error in words (status, the server's message, the fix).
    pub error: PlatformError,
}

impl From<ApiError> for PlatformError {
    fn from(e: ApiError) -> Self {
        e.error
    }
}

impl Client {
    /// A client for the workspace; contacts nothing.
    pub fn new(creds: Credentials) -> Result<Client, PlatformError> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| PlatformError::failed(format!("cannot set up HTTPS: {e}"), ""))?;
        Ok(Client { http, creds })
    }

    /// The workspace id.
    pub fn workspace(&self) -> &str {
        &self.creds.workspace
    }

    /// The API URL.
    pub fn url(&self) -> &str {
        &self.creds.url
    }

    /// Call `METHOD path` (relative to the workspace URL) with `query` and a JSON `body`;
    /// the answer's JSON (`null` for an empty body).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let resp = self.send(method, path, query, body).await?;
        let text = resp.text().await.map_err(|e| self.unreachable(path, &e))?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| ApiError {
            status: None,
            error: PlatformError::failed(
                format!("Lepton answered {path} with something that is not JSON: {e}"),
                "check LEPTON_WORKSPACE_URL: it should end in /api/v2/workspaces/<id>",
            ),
        })
    }

    /// `GET path` with `query`.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ApiError> {
        self.call(Method::GET, path, query, None).await
    }

    /// The raw answer to a successful call (for streamed bodies).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<reqwest::Response, ApiError> {
        let url = format!("{}{path}", self.creds.url);
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.creds.token)
                .query(query);
            if let Some(o) = &self.creds.origin {
                req = req.header("origin", o);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| self.unreachable(path, &e))?;
            let status = resp.status();
            if status == StatusCode::TOO_MANY_REQUESTS && attempt < THROTTLE_RETRIES {
                attempt += 1;
                let wait = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1)
                    .min(60);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            if status.is_success() {
                return Ok(resp);
            }
            let text = resp.text().await.unwrap_or_default();
            return Err(self.refusal(&method, path, status, &text));
        }
    }

    fn unreachable(&self, path: &str, e: &reqwest::Error) -> ApiError {
        // reqwest's text names the URL; the token is never in it.
        ApiError {
            status: None,
            error: PlatformError::Unreachable {
                what: format!(
                    "Lepton workspace {} ({})",
                    self.creds.workspace, self.creds.url
                ),
                why: format!("{path}: {}", error_chain(e)),
                hint:
                    "check the network and LEPTON_WORKSPACE_URL; hoist preflight --platform lepton"
                        .into(),
            },
        }
    }

    /// One line: the status, the server's message, and the fix.
    fn refusal(&self, method: &Method, path: &str, status: StatusCode, body: &str) -> ApiError {
        let said = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| body.trim().chars().take(300).collect());
        let what = format!("Lepton {method} {path}");
        let why = format!("{} {said}", status.as_u16());
        let ws = &self.creds.workspace;
        let error = match status {
            StatusCode::UNAUTHORIZED => PlatformError::Denied {
                what,
                why: format!("{why} (unauthorized access to workspace {ws})"),
                hint: "the token is wrong or expired: set LEPTON_WORKSPACE_TOKEN to a current token from the dashboard's credentials page".into(),
            },
            StatusCode::FORBIDDEN => PlatformError::Denied {
                what,
                why: format!("{why} (forbidden access to workspace {ws})"),
                hint: "the token is not for this workspace or environment: check LEPTON_WORKSPACE_ID and LEPTON_WORKSPACE_URL against the token's workspace".into(),
            },
            StatusCode::NOT_FOUND => PlatformError::NotFound {
                what,
                why,
                hint: format!("check the workspace id ({ws}) and URL; a job may have been deleted on the workspace"),
            },
            StatusCode::TOO_MANY_REQUESTS => PlatformError::Quota {
                what,
                why,
                hint: "the workspace throttles this client: try again in a minute".into(),
            },
            s if s.is_client_error() => PlatformError::failed(
                format!("{what} was refused: {why}"),
                "the request is one Lepton does not accept; hoist run --dry-run --platform lepton shows the job body",
            ),
            _ => PlatformError::Unreachable {
                what,
                why,
                hint: "Lepton's API failed: try again; hoist status reads Unknown until it answers".into(),
            },
        };
        ApiError {
            status: Some(status),
            error,
        }
    }
}

/// An error with its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
