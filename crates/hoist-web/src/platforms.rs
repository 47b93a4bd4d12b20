//! The platforms page: what `hoist platforms` says (settings and environment only, no
//! network), the store's live jobs per platform, and each configured platform's preflight
//! (reachability, GPUs, partitions) asked at most once a minute and for a few seconds.

use crate::api::Answer;
use crate::pages::html;
use crate::{State, Ui};
use askama::Template;
use axum::Json;
use axum::response::Response;
use hoist::JobRequest;
use hoist::core::{Command, PreflightRequest};
use hoist::views::PlatformView;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a preflight answer is shown before it is asked again.
const FRESH_FOR: Duration = Duration::from_secs(60);
/// How long one platform's preflight may take.
const PREFLIGHT_WAIT: Duration = Duration::from_secs(5);

/// One check line: passed, required, name, detail.
type Check = (bool, bool, String, String);

/// Each platform's checks, or why they could not be run.
type Answers = BTreeMap<String, Result<Vec<Check>, String>>;

/// The last preflight of each configured platform, and when it was asked.
#[derive(Default)]
pub struct Cache(Mutex<Option<(Instant, Answers)>>);

/// `GET /api/platforms`: `hoist platforms --json`.
pub async fn api(s: State) -> Json<Vec<PlatformView>> {
    Json(s.h.platforms())
}

async fn preflights(
    ui: &Ui,
    names: Vec<&'static str>,
) -> BTreeMap<String, Result<Vec<Check>, String>> {
    if let Ok(c) = ui.platforms.0.lock()
        && let Some((at, v)) = c.as_ref()
        && at.elapsed() < FRESH_FOR
    {
        return v.clone();
    }
    let asks = names.into_iter().map(|name| async move {
        let req = JobRequest {
            platform: Some(name.to_string()),
            ..JobRequest::new(Command::Argv(vec!["true".into()]))
        };
        let answer = match tokio::time::timeout(
            PREFLIGHT_WAIT,
            ui.h.preflight(&req, &PreflightRequest::default()),
        )
        .await
        {
            Ok(Ok(v)) => Ok(v
                .checks
                .into_iter()
                .map(|c| (c.ok, c.required, c.name, c.detail))
                .collect()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", PREFLIGHT_WAIT.as_secs())),
        };
        (name.to_string(), answer)
    });
    let fresh: BTreeMap<_, _> = futures::future::join_all(asks).await.into_iter().collect();
    if let Ok(mut c) = ui.platforms.0.lock() {
        *c = Some((Instant::now(), fresh.clone()));
    }
    fresh
}

struct Card {
    name: String,
    aliases: String,
    summary: String,
    configured: bool,
    reason: String,
    live: String,
    checks: Vec<Check>,
    unreachable: String,
}

#[derive(Template)]
#[template(path = "platforms.html")]
struct PlatformsPage {
    csrf: String,
    cards: Vec<Card>,
}

/// `GET /platforms`.
pub async fn page(s: State) -> Answer<Response> {
    let all = s.h.platforms();
    let mut live: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for j in s.h.store().active()? {
        *live
            .entry(j.platform)
            .or_default()
            .entry(j.status.to_string())
            .or_default() += 1;
    }
    let configured: Vec<&'static str> = all
        .iter()
        .filter(|p| p.readiness.configured)
        .map(|p| p.name)
        .collect();
    let mut checks = preflights(&s, configured).await;
    let cards = all
        .into_iter()
        .map(|p| {
            let (checks, unreachable) = match checks.remove(p.name) {
                Some(Ok(c)) => (c, String::new()),
                Some(Err(e)) => (vec![], e),
                None => (vec![], String::new()),
            };
            Card {
                name: p.name.to_string(),
                aliases: p.aliases.join(", "),
                summary: p.summary.to_string(),
                configured: p.readiness.configured,
                reason: p.readiness.reason,
                live: live
                    .get(p.name)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{v} {k}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
                checks,
                unreachable,
            }
        })
        .collect();
    html(&PlatformsPage {
        csrf: s.auth.csrf().to_string(),
        cards,
    })
}
