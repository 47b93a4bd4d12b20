//! Rows: how a job is written and read back, and the SQL the listings run.

use crate::{ListFilter, Result, StoreError};
use hoist_core::{JobRecord, JobStatus, JobSummary, LaunchState};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};

pub(crate) const COLUMNS: &str = "id, name, platform, profile, backend_job_id, backend_identity, status, message, exit_code, created_at, updated_at, started_at, finished_at, retry_count, retry_history, results_location, parent_job_id, workflow_id, spec, launch_state, launch_token, launcher, cancel_requested, pinned";

pub(crate) fn insert_on(conn: &Connection, job: &JobRecord) -> Result<()> {
    let spec =
        serde_json::to_string(&job.spec.redacted()).map_err(|e| bad(&job.job_id, "spec", e))?;
    let history = serde_json::to_string(&job.retry_history)
        .map_err(|e| bad(&job.job_id, "retry_history", e))?;
    let pinned = job
        .pinned
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| bad(&job.job_id, "pinned", e))?;
    conn.execute(
        &format!("INSERT INTO jobs ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24)"),
        params![
            job.job_id,
            job.name,
            job.platform,
            job.profile,
            job.backend_job_id,
            job.backend_identity,
            job.status.as_str(),
            job.message,
            job.exit_code,
            ts(job.created_at),
            ts(job.updated_at),
            job.started_at.map(ts),
            job.finished_at.map(ts),
            job.retry_count,
            history,
            job.results_location,
            job.parent_job_id,
            job.workflow_id,
            spec,
            job.launch_state.as_str(),
            job.launch_token,
            job.launcher,
            job.cancel_requested,
            pinned,
        ],
    )?;
    conn.execute(
        "INSERT INTO job_events (job_id, at, kind, status, message) VALUES (?1, ?2, 'submit', ?3, ?4)",
        params![job.job_id, ts(job.created_at), job.status.as_str(), format!("written before launch on {}", job.platform)],
    )?;
    Ok(())
}

/// Append one entry to a job's history.
pub(crate) fn add_event(
    conn: &Connection,
    id: &str,
    kind: &str,
    status: Option<JobStatus>,
    message: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO job_events (job_id, at, kind, status, message) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            id,
            ts(hoist_core::now()),
            kind,
            status.map(|s| s.as_str()),
            message
        ],
    )?;
    Ok(())
}

pub(crate) const SUMMARY_COLUMNS: &str = "id, name, platform, profile, status, message, exit_code, backend_job_id, results_location, retry_count, created_at, updated_at, started_at, finished_at";

/// Run a query and read every row with `read`, keeping the first conversion error.
pub(crate) fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| Ok(read(r)))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row??);
    }
    Ok(out)
}

/// One job row by exact id.
pub(crate) fn row_by_id(conn: &Connection, id: &str) -> Result<Option<JobRecord>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
        [id],
        |r| Ok(read_row(r)),
    )
    .optional()?
    .transpose()
}

pub(crate) fn list_sql(columns: &str, f: &ListFilter) -> (String, Vec<String>) {
    let mut sql = format!("SELECT {columns} FROM jobs WHERE 1=1");
    let mut args: Vec<String> = Vec::new();
    if let Some(s) = f.status {
        args.push(s.as_str().to_string());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    let exact = [
        ("platform", &f.platform),
        ("workflow_id", &f.workflow_id),
        ("parent_job_id", &f.parent_job_id),
    ];
    for (col, v) in exact {
        if let Some(v) = v {
            args.push(v.clone());
            sql.push_str(&format!(" AND {col} = ?{}", args.len()));
        }
    }
    // Insertion order is submission order; the rowid walk avoids an index lookup per row.
    sql.push_str(" ORDER BY rowid DESC");
    if let Some(n) = f.limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    (sql, args)
}

pub(crate) fn read_summary(r: &Row<'_>) -> Result<JobSummary> {
    let id: String = r.get(0)?;
    let status = r.get_ref(4)?.as_str().map_err(rusqlite::Error::from)?;
    Ok(JobSummary {
        name: r.get(1)?,
        platform: r.get(2)?,
        profile: r.get(3)?,
        status: status.parse().map_err(|e| bad(&id, "status", e))?,
        message: r.get(5)?,
        exit_code: r.get(6)?,
        backend_job_id: r.get(7)?,
        results_location: r.get(8)?,
        retry_count: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        started_at: r.get(12)?,
        finished_at: r.get(13)?,
        job_id: id,
    })
}

pub(crate) fn ts(t: Timestamp) -> String {
    hoist_core::format_ts(t)
}

pub(crate) fn parse_ts(id: &str, field: &'static str, s: &str) -> Result<Timestamp> {
    s.parse::<Timestamp>().map_err(|e| StoreError::BadValue {
        job_id: id.to_string(),
        field,
        detail: e.to_string(),
    })
}

pub(crate) fn bad(id: &str, field: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::BadValue {
        job_id: id.to_string(),
        field,
        detail: e.to_string(),
    }
}

pub(crate) fn read_row(r: &Row<'_>) -> Result<JobRecord> {
    let id: String = r.get(0)?;
    let opt_ts = |i: usize, f: &'static str| -> Result<Option<Timestamp>> {
        match r.get::<_, Option<String>>(i)? {
            Some(s) => Ok(Some(parse_ts(&id, f, &s)?)),
            None => Ok(None),
        }
    };
    let status: String = r.get(6)?;
    let spec: String = r.get(18)?;
    let history: String = r.get(14)?;
    let launch: String = r.get(19)?;
    Ok(JobRecord {
        name: r.get(1)?,
        platform: r.get(2)?,
        profile: r.get(3)?,
        backend_job_id: r.get(4)?,
        backend_identity: r.get(5)?,
        status: status.parse().map_err(|e| bad(&id, "status", e))?,
        message: r.get(7)?,
        exit_code: r.get(8)?,
        created_at: parse_ts(&id, "created_at", &r.get::<_, String>(9)?)?,
        updated_at: parse_ts(&id, "updated_at", &r.get::<_, String>(10)?)?,
        started_at: opt_ts(11, "started_at")?,
        finished_at: opt_ts(12, "finished_at")?,
        retry_count: r.get(13)?,
        retry_history: serde_json::from_str(&history).map_err(|e| bad(&id, "retry_history", e))?,
        results_location: r.get(15)?,
        parent_job_id: r.get(16)?,
        workflow_id: r.get(17)?,
        spec: serde_json::from_str(&spec).map_err(|e| bad(&id, "spec", e))?,
        launch_state: LaunchState::parse(&launch)
            .ok_or_else(|| bad(&id, "launch_state", &launch))?,
        launch_token: r.get(20)?,
        launcher: r.get(21)?,
        cancel_requested: r.get(22)?,
        pinned: match r.get::<_, Option<String>>(23)? {
            Some(p) => Some(serde_json::from_str(&p).map_err(|e| bad(&id, "pinned", e))?),
            None => None,
        },
        job_id: id,
    })
}
