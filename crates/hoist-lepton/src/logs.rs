//! A Lepton job's output: the history from `GET /logs` (nanosecond range from the job's times,
//! paged by moving `end` back, newest-first answers put in order), and the live replica
//! streams for `-f`, moving on to replicas that appear later. Several workers' lines are
//! prefixed with their rank, as on Kubernetes.

use crate::client::Client;
use crate::status::JobState;
use futures::StreamExt;
use hoist_core::{BoxLogStream, PlatformError};
use reqwest::Method;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Values asked for per page (the client's default).
const PAGE: usize = 5000;

/// The rank of a replica id `<job id>-<worker index>-<5 chars>`.
pub fn rank_of(job_id: &str, replica: &str) -> Option<u32> {
    replica
        .strip_prefix(job_id)?
        .strip_prefix('-')?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// One log line with its time and replica.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Line {
    ts: u128,
    replica: String,
    text: String,
}

/// The job's history, oldest first; the last `tail` lines (all when `None`).
pub async fn history(
    client: &Client,
    st: &JobState,
    tail: Option<usize>,
) -> Result<String, PlatformError> {
    let (start, mut end) = range(st);
    let mut lines: Vec<Line> = Vec::new();
    loop {
        let got = page(client, &st.id, start, end).await?;
        let Some(oldest) = got.iter().map(|l| l.ts).min() else {
            break;
        };
        lines.extend(got);
        // `end` is exclusive: the next page ends where this one's oldest line is.
        if tail.is_some_and(|n| lines.len() >= n) || oldest <= start || oldest >= end {
            break;
        }
        end = oldest;
    }
    lines.sort();
    lines.dedup();
    let multi = st.completions > 1;
    let from = tail.map(|n| lines.len().saturating_sub(n)).unwrap_or(0);
    let mut out = String::new();
    for l in &lines[from..] {
        if multi {
            let r = rank_of(&st.id, &l.replica)
                .map(|r| r.to_string())
                .unwrap_or_else(|| l.replica.clone());
            out.push_str(&format!("[{r}] "));
        }
        out.push_str(l.text.trim_end_matches('\n'));
        out.push('\n');
    }
    Ok(out)
}

/// The values of a `/logs` answer.
fn values(page: &Value) -> Vec<Line> {
    let mut out = Vec::new();
    for stream in page
        .pointer("/data/result")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let replica = stream
            .pointer("/stream/replica")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        for v in stream
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ts = v
                .get(0)
                .and_then(|t| {
                    t.as_str()
                        .map(str::to_string)
                        .or(t.as_u64().map(|n| n.to_string()))
                })
                .and_then(|t| t.parse::<u128>().ok());
            let text = v.get(1).and_then(Value::as_str);
            if let (Some(ts), Some(text)) = (ts, text) {
                out.push(Line {
                    ts,
                    replica: replica.clone(),
                    text: text.to_string(),
                });
            }
        }
    }
    out
}

/// The replicas of a job: id and rank.
pub async fn replicas(
    client: &Client,
    id: &str,
) -> Result<Vec<(String, Option<u32>, Value)>, PlatformError> {
    let v = client
        .get(
            &format!("/jobs/{id}/replicas"),
            &[("job_query_mode", "alive_and_archive".into())],
        )
        .await?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let rid = r
                .get("id")
                .or_else(|| r.pointer("/metadata/id"))
                .and_then(Value::as_str)?
                .to_string();
            Some((rid.clone(), rank_of(id, &rid), r.clone()))
        })
        .collect())
}

/// Follow every replica's live stream until the job ends, starting new replicas' streams as
/// they appear. With `tail`, each replica starts at its last `tail` lines.
pub async fn follow(
    client: Arc<Client>,
    st: JobState,
    tail: Option<usize>,
) -> Result<BoxLogStream, PlatformError> {
    let multi = st.completions > 1;
    // With a tail, each replica's live stream skips what its history has beyond the tail.
    let mut skip: BTreeMap<String, usize> = BTreeMap::new();
    if let Some(n) = tail {
        let (start, end) = range(&st);
        for l in page(&client, &st.id, start, end).await? {
            *skip.entry(l.replica).or_default() += 1;
        }
        for v in skip.values_mut() {
            *v = v.saturating_sub(n);
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, PlatformError>>(64);
    tokio::spawn(async move {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        loop {
            let reps = match replicas(&client, &st.id).await {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let mut streams = Vec::new();
            for (rid, rank, _) in reps {
                if !seen.insert(rid.clone()) {
                    continue;
                }
                let prefix = if multi {
                    format!("[{}] ", rank.map(|r| r.to_string()).unwrap_or(rid.clone()))
                } else {
                    String::new()
                };
                let path = format!("/jobs/{}/replicas/{rid}/log", st.id);
                match client.send(Method::GET, &path, &[], None).await {
                    Ok(resp) => {
                        let skip_n = skip.get(&rid).copied().unwrap_or(0);
                        streams.push(lines_of(resp, prefix, skip_n).boxed());
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                }
            }
            if !streams.is_empty() {
                let mut all = futures::stream::select_all(streams);
                while let Some(item) = all.next().await {
                    if tx.send(item).await.is_err() {
                        return; // the reader went away
                    }
                }
            }
            // The streams ended: the job did, or its replicas changed.
            let now = client
                .get(
                    &format!("/jobs/{}", st.id),
                    &[("job_query_mode", "alive_and_archive".into())],
                )
                .await;
            let done = match now {
                Ok(v) => crate::status::parse(&v)
                    .map(|s| crate::status::report(&s, false).status)
                    .is_none_or(|s| {
                        s.is_terminal()
                            || s == hoist_core::JobStatus::Unknown
                            || s == hoist_core::JobStatus::Paused
                    }),
                Err(_) => true,
            };
            if done {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });
    Ok(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed())
}

/// The job's lifetime in nanoseconds: creation to completion (or now), the end widened so a
/// line written at the last instant still counts.
fn range(st: &JobState) -> (u128, u128) {
    let ns = |t: jiff::Timestamp| t.as_nanosecond().max(1) as u128;
    let start = st.created.map(ns).unwrap_or(1);
    let end = st
        .completed
        .map(ns)
        .unwrap_or_else(|| ns(jiff::Timestamp::now()));
    (start, end + 1_000_000_000)
}

/// One page of `/logs`, newest first, ending (exclusive) at `end`.
async fn page(
    client: &Client,
    id: &str,
    start: u128,
    end: u128,
) -> Result<Vec<Line>, PlatformError> {
    let v = client
        .get(
            "/logs",
            &[
                ("job", id.to_string()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("timestamps", "True".into()),
                ("direction", "backward".into()),
                ("limit", PAGE.to_string()),
                ("q", String::new()),
                ("job_query_mode", "alive_and_archive".into()),
            ],
        )
        .await?;
    Ok(values(&v))
}

/// A response body as whole lines, each with `prefix`, the first `skip` dropped.
fn lines_of(
    resp: reqwest::Response,
    prefix: String,
    skip: usize,
) -> impl futures::Stream<Item = Result<String, PlatformError>> {
    let state = (
        resp.bytes_stream().boxed(),
        String::new(),
        skip,
        prefix,
        false,
    );
    futures::stream::unfold(
        state,
        |(mut bytes, mut buf, mut skip, prefix, mut ended)| async move {
            loop {
                if let Some(i) = buf.find('\n') {
                    let line: String = buf.drain(..=i).collect();
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    let item = Ok(format!("{prefix}{line}"));
                    return Some((item, (bytes, buf, skip, prefix, ended)));
                }
                if ended {
                    if buf.is_empty() {
                        return None;
                    }
                    let rest = std::mem::take(&mut buf);
                    return Some((
                        Ok(format!("{prefix}{rest}\n")),
                        (bytes, buf, skip, prefix, true),
                    ));
                }
                match bytes.next().await {
                    Some(Ok(b)) => buf.push_str(&String::from_utf8_lossy(&b)),
                    Some(Err(e)) => {
                        let err = PlatformError::Unreachable {
                            what: "Lepton's log stream".into(),
                            why: e.to_string(),
                            hint: "run hoist logs -f JOB again to resume".into(),
                        };
                        return Some((Err(err), (bytes, buf, skip, prefix, true)));
                    }
                    None => ended = true,
                }
            }
        },
    )
}
