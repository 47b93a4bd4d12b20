//! hoist's browser front door (`hoist ui`): server-rendered pages over the library's store
//! and views, a JSON API whose bodies are the CLI's `--json` views, and server-sent events fed
//! by one shared refresh loop.
//!
//! Nothing here prints: [`serve`] hands the bound address to its caller (the CLI prints the
//! URL with the token) and returns errors.

mod api;
mod auth;
mod fmt;
mod live;
mod pages;
mod platforms;
mod runs;

use axum::Router;
use axum::routing::{get, post};
use hoist::Hoist;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to serve.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// Where to listen (port 0: any free port; the bound address goes to `on_ready`).
    pub listen: SocketAddr,
    /// The access token every request must carry.
    pub token: String,
    /// The longest pause between two rounds of the shared refresh loop (default: the
    /// library's poll bounds, `HOIST_POLL_MAX_MS`).
    pub refresh: Option<Duration>,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The address could not be bound.
    #[error(
        "cannot listen on {addr}: {source} (is another hoist ui running? pick another port with --listen 127.0.0.1:0)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The server stopped on an I/O error.
    #[error("the dashboard server stopped: {0}")]
    Serve(std::io::Error),
    /// The token is not usable in a URL or a cookie.
    #[error("the access token {0}")]
    Token(&'static str),
}

/// A fresh random access token (256 bits, hex).
pub fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Whether `token` can travel in a URL query and a cookie unchanged.
pub fn check_token(token: &str) -> Result<(), WebError> {
    if token.len() < 8 {
        return Err(WebError::Token("is shorter than 8 characters"));
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return Err(WebError::Token(
            "may only hold letters, digits and - . _ ~ (it travels in URLs and a cookie)",
        ));
    }
    Ok(())
}

/// What every handler shares.
pub(crate) struct Ui {
    pub h: Arc<Hoist>,
    pub auth: auth::Keys,
    pub live: live::Live,
    pub runs_root: PathBuf,
    pub platforms: platforms::Cache,
}

pub(crate) type State = axum::extract::State<Arc<Ui>>;

/// Serve the dashboard until the process ends. `on_ready` gets the bound address once the
/// socket listens (before any request is answered).
pub async fn serve(
    h: Arc<Hoist>,
    opts: UiOptions,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), WebError> {
    check_token(&opts.token)?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| WebError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(WebError::Serve)?;
    let refresh = opts.refresh.unwrap_or_else(|| h.poll_bounds().1);
    let ui = Arc::new(Ui {
        runs_root: h.home().join("runs"),
        auth: auth::Keys::new(&opts.token, addr.port()),
        live: live::Live::start(h.clone(), refresh),
        platforms: platforms::Cache::default(),
        h,
    });
    on_ready(addr);
    axum::serve(listener, router(ui))
        .await
        .map_err(WebError::Serve)
}

fn router(ui: Arc<Ui>) -> Router {
    Router::new()
        .route("/", get(pages::jobs))
        .route("/jobs/{id}", get(pages::job))
        .route("/runs", get(runs::page_list))
        .route("/runs/{*id}", get(runs::page_one))
        .route("/platforms", get(platforms::page))
        .route("/static/app.css", get(pages::css))
        .route("/static/app.js", get(pages::js))
        .route("/api/jobs", get(api::jobs))
        .route("/api/jobs/{id}", get(api::job))
        .route("/api/jobs/{id}/why", get(api::why))
        .route("/api/jobs/{id}/logs", get(api::logs))
        .route("/api/jobs/{id}/cancel", post(api::cancel))
        .route("/api/runs", get(runs::api_list))
        .route("/api/runs/{*id}", get(runs::api_one))
        .route("/api/platforms", get(platforms::api))
        .route("/api/events", get(api::events))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            ui.clone(),
            auth::require,
        ))
        .with_state(ui)
}
