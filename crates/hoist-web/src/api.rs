//! The JSON API: each body is the view the CLI prints with `--json` (`ls`, `show`, `why`,
//! `status`), plain text for logs, and server-sent events for changes and log follow.

use crate::{State, Ui};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures::{Stream, StreamExt};
use hoist::HoistError;
use hoist::core::{JobRecord, JobStatus, JobSummary};
use hoist::store::{ListFilter, StoreError};
use hoist::views::{EventView, PendingView, ShowView, WhyView};
use serde::Deserialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How long a page or an API answer waits on a backend for what only it knows (details,
/// failure evidence, a log tail) before answering without it.
pub const BACKEND_WAIT: Duration = Duration::from_secs(5);
/// How long a cancel waits for the job to end before answering with where it stands.
const CANCEL_WAIT: Duration = Duration::from_secs(30);

/// An error answer: a status and a sentence (what happened, why, what to do).
pub struct Failure(pub StatusCode, pub String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}: {}\n", self.0.as_u16(), self.1),
        )
            .into_response()
    }
}

impl From<HoistError> for Failure {
    fn from(e: HoistError) -> Self {
        let code = match &e {
            HoistError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            HoistError::Store(StoreError::Ambiguous { .. }) | HoistError::Input(_) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let hint = e.hint().filter(|h| !h.is_empty());
        Failure(
            code,
            match hint {
                Some(h) => format!("{e} ({h})"),
                None => e.to_string(),
            },
        )
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        HoistError::from(e).into()
    }
}

pub type Answer<T> = Result<T, Failure>;

pub async fn not_found() -> Failure {
    Failure(
        StatusCode::NOT_FOUND,
        "no such page; the dashboard has /, /jobs/ID, /runs, /platforms and /api/…".into(),
    )
}

/// The filters of the jobs table and of `/api/jobs`, as typed in a query string.
#[derive(Debug, Default, Deserialize)]
pub struct JobsQuery {
    pub status: Option<String>,
    pub platform: Option<String>,
    pub run: Option<String>,
    pub name: Option<String>,
    pub page: Option<String>,
    pub per: Option<String>,
    pub limit: Option<String>,
}

fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn number(what: &str, v: &Option<String>, min: usize, max: usize) -> Answer<Option<usize>> {
    match blank(v) {
        None => Ok(None),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(Failure(
                StatusCode::BAD_REQUEST,
                format!("{what}={s:?} is not a whole number from {min} to {max}"),
            )),
        },
    }
}

/// The query as a store filter (no name: the store matches names exactly, the table by part).
pub fn filter(ui: &Ui, q: &JobsQuery) -> Answer<ListFilter> {
    let status = blank(&q.status)
        .map(str::parse::<JobStatus>)
        .transpose()
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("status: {e}")))?;
    let platform = blank(&q.platform)
        .map(hoist::canonical_platform)
        .transpose()
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, e.to_string()))?
        .map(str::to_string);
    let workflow_id = blank(&q.run)
        .map(|r| hoist_task::runs::find(&ui.runs_root, r).map(|run| run.workflow_id))
        .transpose()
        .map_err(|e| Failure(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok(ListFilter {
        status,
        platform,
        workflow_id,
        ..Default::default()
    })
}

/// One page of jobs, newest first, and whether there are more. Only the rows shown (and one
/// more, to know) are read, unless a name filter needs every row's name.
pub fn page_of(ui: &Ui, q: &JobsQuery, page: usize, per: usize) -> Answer<(Vec<JobSummary>, bool)> {
    let mut f = filter(ui, q)?;
    let skip = (page - 1) * per;
    let name = blank(&q.name).map(str::to_lowercase);
    if name.is_none() {
        f.limit = Some(skip + per + 1);
    }
    let mut all = ui.h.store().list_summaries(&f)?;
    if let Some(n) = &name {
        all.retain(|j| j.name.to_lowercase().contains(n.as_str()));
    }
    let more = all.len() > skip + per;
    Ok((all.into_iter().skip(skip).take(per).collect(), more))
}

pub fn page_numbers(q: &JobsQuery) -> Answer<(usize, usize)> {
    Ok((
        number("page", &q.page, 1, 1_000_000)?.unwrap_or(1),
        number("per", &q.per, 1, 1000)?.unwrap_or(50),
    ))
}

/// `GET /api/jobs`: `hoist ls --json`; `?per=&page=` pages it, `?limit=` as `ls --limit`.
pub async fn jobs(s: State, Query(q): Query<JobsQuery>) -> Answer<Response> {
    if blank(&q.per).is_some() || blank(&q.page).is_some() {
        let (page, per) = page_numbers(&q)?;
        return Ok(Json(page_of(&s, &q, page, per)?.0).into_response());
    }
    let mut f = filter(&s, &q)?;
    let name = blank(&q.name).map(str::to_lowercase);
    f.limit = if name.is_some() {
        None
    } else {
        number("limit", &q.limit, 0, usize::MAX)?
    };
    let mut all = s.h.store().list_summaries(&f)?;
    if let Some(n) = &name {
        all.retain(|j| j.name.to_lowercase().contains(n.as_str()));
        if let Some(l) = number("limit", &q.limit, 0, usize::MAX)? {
            all.truncate(l);
        }
    }
    Ok(Json(all).into_response())
}

pub fn record(ui: &Ui, id: &str) -> Answer<JobRecord> {
    Ok(ui.h.resolve(id)?)
}

/// `GET /api/jobs/{id}`: `hoist show --json`.
pub async fn job(s: State, Path(id): Path<String>) -> Answer<Json<ShowView>> {
    let j = record(&s, &id)?;
    let events = s.h.store().events(&j.job_id)?;
    let details = tokio::time::timeout(BACKEND_WAIT, s.h.details(&j))
        .await
        .ok()
        .flatten();
    Ok(Json(ShowView {
        platform_details: details,
        events: events.iter().map(EventView::from).collect(),
        job: j,
    }))
}

/// What `hoist why --json` prints for a job: why it failed once it ended, why it waits
/// while it does not.
pub enum Why {
    Ended(WhyView),
    Live(PendingView),
}

pub async fn why_of(ui: &Ui, j: &JobRecord) -> Result<Why, String> {
    if !j.status.is_terminal() && j.status != JobStatus::Unknown {
        let a = tokio::time::timeout(BACKEND_WAIT, ui.h.pending_analysis(j)).await;
        return match a {
            Ok(Ok(a)) => Ok(Why::Live(PendingView::new(j, a))),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Ok(Why::Live(PendingView::new(j, None))),
        };
    }
    match tokio::time::timeout(BACKEND_WAIT, ui.h.failure_analysis(j)).await {
        Ok(Ok(a)) => Ok(Why::Ended(WhyView::new(j, a))),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "{} did not answer within {} s",
            j.platform,
            BACKEND_WAIT.as_secs()
        )),
    }
}

/// `GET /api/jobs/{id}/why`: `hoist why --json`.
pub async fn why(s: State, Path(id): Path<String>) -> Answer<Response> {
    let j = record(&s, &id)?;
    match why_of(&s, &j).await {
        Ok(Why::Ended(v)) => Ok(Json(v).into_response()),
        Ok(Why::Live(v)) => Ok(Json(v).into_response()),
        Err(e) => Err(Failure(StatusCode::BAD_GATEWAY, e)),
    }
}

#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    tail: Option<String>,
    follow: Option<String>,
}

/// `GET /api/jobs/{id}/logs?tail=N`: `hoist logs` as text; `&follow=1`: server-sent events,
/// each `log` event's data a JSON string of output, then one `end` event.
pub async fn logs(
    s: State,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Answer<Response> {
    let j = record(&s, &id)?;
    let tail = number("tail", &q.tail, 0, 1_000_000)?;
    if blank(&q.follow).is_some_and(|f| f != "0") {
        let stream =
            s.h.follow_logs(&j, tail)
                .await
                .map_err(|e| Failure(StatusCode::BAD_GATEWAY, e.to_string()))?;
        let events = stream
            .map(|c| match c {
                Ok(text) => Event::default()
                    .event("log")
                    .json_data(text)
                    .unwrap_or_else(|_| Event::default().event("log")),
                Err(e) => Event::default().event("error").data(e.to_string()),
            })
            .chain(futures::stream::once(async {
                Event::default().event("end").data("")
            }))
            .map(Ok::<_, Infallible>);
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let text = tokio::time::timeout(BACKEND_WAIT, s.h.logs(&j, tail))
        .await
        .map_err(|_| {
            Failure(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "{} did not send the log within {} s",
                    j.platform,
                    BACKEND_WAIT.as_secs()
                ),
            )
        })?
        .map_err(|e| Failure(StatusCode::BAD_GATEWAY, e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// `POST /api/jobs/{id}/cancel` with the CSRF token (`X-CSRF-Token`, or the form field
/// `csrf`): cancels, waits a while for the end, answers `hoist status --json` (a form post
/// is sent back to the job's page instead).
pub async fn cancel(
    s: State,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<Response> {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let given = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .or(form.get("csrf").map(String::as_str));
    if !given.is_some_and(|t| s.auth.csrf_ok(t)) {
        return Err(Failure(
            StatusCode::FORBIDDEN,
            "the CSRF token is missing or wrong: send the X-CSRF-Token header every answer carries, or use the cancel button of the job's page".into(),
        ));
    }
    let j = record(&s, &id)?;
    let (after, _) = s.h.cancel(&j.job_id).await?;
    let after = if after.status.is_terminal() {
        after
    } else {
        match tokio::time::timeout(CANCEL_WAIT, s.h.wait(&after.job_id)).await {
            Ok(r) => r?,
            Err(_) => s.h.resolve(&after.job_id)?,
        }
    };
    if form.contains_key("csrf") {
        return Ok(Redirect::to(&format!("/jobs/{}", after.job_id)).into_response());
    }
    Ok(Json(JobSummary::from(&after)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    job: Option<String>,
}

/// `GET /api/events`: every job change as a `job` event whose data is the job in the shape
/// of `hoist ls --json`; `?job=ID` only that job's. A client too slow to keep up gets a
/// `lagged` event (reload to catch up).
pub async fn events(s: State, Query(q): Query<EventsQuery>) -> Answer<Response> {
    let only = match blank(&q.job) {
        Some(id) => Some(record(&s, id)?.job_id),
        None => None,
    };
    Ok(Sse::new(changes(s.0.clone(), only))
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn changes(ui: Arc<Ui>, only: Option<String>) -> impl Stream<Item = Result<Event, Infallible>> {
    let rx = ui.live.subscribe();
    futures::stream::unfold((rx, only), |(mut rx, only)| async move {
        loop {
            match rx.recv().await {
                Ok(j) if only.as_ref().is_none_or(|id| *id == j.job_id) => {
                    let ev = Event::default()
                        .event("job")
                        .json_data(&j)
                        .unwrap_or_else(|_| Event::default().event("job"));
                    return Some((Ok(ev), (rx, only)));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {
                    return Some((Ok(Event::default().event("lagged").data("")), (rx, only)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
