//! The jobs table and a job's page: the store read as it stands (the shared loop keeps it
//! fresh), rendered by compile-time templates that escape every value.

use crate::api::{self, Answer, Failure, JobsQuery, Why};
use crate::{State, fmt};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use hoist::core::{JobStatus, JobSummary};

const CSS: &str = include_str!("../static/app.css");
const JS: &str = include_str!("../static/app.js");
/// Log lines a job's page shows (and follows from).
const TAIL: usize = 200;

pub async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

pub async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
        .into_response()
}

/// A template rendered, or a 500 saying which page failed.
pub fn html(t: &impl Template) -> Answer<Response> {
    t.render().map(|s| Html(s).into_response()).map_err(|e| {
        Failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering the page failed: {e}"),
        )
    })
}

pub struct Row {
    id: String,
    short: String,
    name: String,
    platform: String,
    status: String,
    class: &'static str,
    exit: String,
    age: String,
    duration: String,
    gpus: String,
    message: String,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    csrf: String,
    rows: Vec<Row>,
    statuses: Vec<(String, bool)>,
    platforms: Vec<(String, bool)>,
    run: String,
    name: String,
    per: usize,
    page: usize,
    filtered: bool,
    prev: Option<String>,
    next: Option<String>,
}

const STATUSES: [JobStatus; 7] = [
    JobStatus::Pending,
    JobStatus::Running,
    JobStatus::Complete,
    JobStatus::Error,
    JobStatus::Canceling,
    JobStatus::Canceled,
    JobStatus::Unknown,
];

fn row(s: JobSummary, gpus: String) -> Row {
    Row {
        short: s.short_id().to_string(),
        class: fmt::status_class(s.status),
        status: s.status.to_string(),
        exit: s.exit_code.map(|c| c.to_string()).unwrap_or_default(),
        age: fmt::age(&s.created_at),
        duration: fmt::duration(s.started_at.as_deref(), s.finished_at.as_deref()),
        message: s.message.lines().next().unwrap_or_default().to_string(),
        gpus,
        id: s.job_id,
        name: s.name,
        platform: s.platform,
    }
}

/// The query string of the same filters at another page.
fn link(q: &JobsQuery, page: usize, per: usize) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("status", &q.status),
        ("platform", &q.platform),
        ("run", &q.run),
        ("name", &q.name),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
            pairs.push((k, v.to_string()));
        }
    }
    pairs.push(("page", page.to_string()));
    pairs.push(("per", per.to_string()));
    format!(
        "/?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

/// `GET /`: the jobs table.
pub async fn jobs(s: State, Query(q): Query<JobsQuery>) -> Answer<Response> {
    let (page, per) = api::page_numbers(&q)?;
    let (list, more) = api::page_of(&s, &q, page, per)?;
    let store = s.h.store();
    let rows = list
        .into_iter()
        .map(|j| {
            // The summary has no spec: the GPUs come from the record, for the shown rows only.
            let gpus = match store.get(&j.job_id) {
                Ok(Some(r)) => r.spec.gpus.to_string(),
                _ => String::new(),
            };
            row(j, gpus)
        })
        .collect();
    let chosen = |v: &Option<String>| v.as_deref().unwrap_or_default().to_string();
    let status = chosen(&q.status);
    let platform = chosen(&q.platform);
    let page_view = JobsPage {
        csrf: s.auth.csrf().to_string(),
        rows,
        statuses: STATUSES
            .iter()
            .map(|st| (st.to_string(), st.as_str() == status))
            .collect(),
        platforms: hoist::platform_infos()
            .iter()
            .map(|i| (i.name.to_string(), i.name == platform))
            .collect(),
        run: chosen(&q.run),
        name: chosen(&q.name),
        filtered: [&q.status, &q.platform, &q.run, &q.name]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty())),
        per,
        page,
        prev: (page > 1).then(|| link(&q, page - 1, per)),
        next: more.then(|| link(&q, page + 1, per)),
    };
    html(&page_view)
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    csrf: String,
    j: hoist::core::JobRecord,
    short: String,
    status: String,
    class: &'static str,
    live: bool,
    facts: Vec<(&'static str, String)>,
    replicas: Vec<(String, String, String, String, String)>,
    why: Vec<(&'static str, String)>,
    evidence: Vec<String>,
    tail: usize,
    log: String,
    events: Vec<hoist::views::EventView>,
}

/// `GET /jobs/{id}`: the record, replicas, why, the log tail (followed while it runs) and the
/// history; a cancel button while it is live.
pub async fn job(s: State, Path(id): Path<String>) -> Answer<Response> {
    let j = api::record(&s, &id)?;
    let events = s.h.store().events(&j.job_id)?;
    let details = tokio::time::timeout(api::BACKEND_WAIT, s.h.details(&j))
        .await
        .ok()
        .flatten();
    let log = match tokio::time::timeout(api::BACKEND_WAIT, s.h.logs(&j, Some(TAIL))).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => format!("(no log: {e})"),
        Err(_) => format!(
            "(no log: {} did not send it within {} s)",
            j.platform,
            api::BACKEND_WAIT.as_secs()
        ),
    };
    let (why, evidence) = why_rows(api::why_of(&s, &j).await);
    let profile = j
        .profile
        .as_ref()
        .map(|p| format!(" (profile {p})"))
        .unwrap_or_default();
    let env: Vec<String> = j.spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let ts = |t: Option<jiff::Timestamp>| t.map(hoist::core::format_ts).unwrap_or_default();
    let facts = vec![
        ("id", j.job_id.clone()),
        ("platform", format!("{}{profile}", j.platform)),
        ("message", j.message.clone()),
        (
            "exit code",
            j.exit_code.map(|c| c.to_string()).unwrap_or_default(),
        ),
        ("command", j.spec.command.display()),
        ("gpus", j.spec.gpus.to_string()),
        ("env", env.join(" ")),
        ("backend id", j.backend_job_id.clone().unwrap_or_default()),
        ("backend", j.backend_identity.clone().unwrap_or_default()),
        (
            "results",
            j.results_location
                .clone()
                .or_else(|| s.h.results_dir(&j))
                .unwrap_or_default(),
        ),
        ("created", hoist::core::format_ts(j.created_at)),
        ("started", ts(j.started_at)),
        ("finished", ts(j.finished_at)),
        (
            "retries",
            if j.retry_count > 0 {
                j.retry_count.to_string()
            } else {
                String::new()
            },
        ),
    ];
    let replicas = details
        .map(|d| d.replicas)
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            (
                r.rank.unwrap_or_default(),
                r.name,
                r.phase,
                r.node.unwrap_or_default(),
                r.issue.unwrap_or_default(),
            )
        })
        .collect();
    let page = JobPage {
        csrf: s.auth.csrf().to_string(),
        short: j.short_id().to_string(),
        status: j.status.to_string(),
        class: fmt::status_class(j.status),
        live: !j.status.is_terminal(),
        facts,
        replicas,
        why,
        evidence,
        tail: TAIL,
        log,
        events: events.iter().map(hoist::views::EventView::from).collect(),
        j,
    };
    html(&page)
}

type WhyRows = (Vec<(&'static str, String)>, Vec<String>);

/// The `why` analysis as rows and evidence lines (`log line 108: text`).
fn why_rows(w: Result<Why, String>) -> WhyRows {
    match w {
        Ok(Why::Ended(v)) => {
            let evidence = v
                .evidence
                .iter()
                .map(|e| match (e.source.as_str(), e.line) {
                    (src, Some(n)) => format!("{src} line {n}: {}", e.text),
                    ("exit", None) => e.text.clone(),
                    (src, None) => format!("{src}: {}", e.text),
                })
                .collect();
            (
                vec![
                    (
                        "class",
                        v.err_class
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_default(),
                    ),
                    ("cause", v.cause),
                    ("fix", v.suggestion),
                    (
                        "retriable",
                        if v.rule.is_some() {
                            v.retriable.to_string()
                        } else {
                            String::new()
                        },
                    ),
                    ("rule", v.rule.unwrap_or_default()),
                ],
                evidence,
            )
        }
        Ok(Why::Live(v)) => (
            vec![
                ("reason", v.reason.unwrap_or_default()),
                ("explanation", v.explanation),
                ("would unblock it", v.unblock),
                ("evidence", v.evidence),
            ],
            vec![],
        ),
        Err(e) => (vec![("unavailable", e)], vec![]),
    }
}
