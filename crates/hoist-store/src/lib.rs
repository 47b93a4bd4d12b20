//! The durable job store.
//!
//! One SQLite database (`$HOIST_HOME/hoist.db`) in WAL mode, shared by every hoist process on
//! the machine. Writers take the database lock up front (`BEGIN IMMEDIATE`) so that a
//! read-check-write is atomic across processes; status changes go through
//! [`hoist_core::JobStatus::can_transition_to`] inside that transaction, which makes the
//! transition rules hold no matter how many processes race.
#![deny(missing_docs)]

mod files;
mod open;
mod rows;
mod schema;

use rows::{
    COLUMNS, SUMMARY_COLUMNS, add_event, bad, collect, insert_on, list_sql, parse_ts, read_row,
    read_summary, row_by_id, ts,
};

use hoist_core::job::{JobMatch, match_job};
use hoist_core::{JobRecord, JobStatus, JobSummary, RetryAttempt, StatusReport, Submitted};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

pub use schema::SCHEMA_VERSION;

/// Everything that can go wrong with the store. Each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The directory or database could not be created or opened.
    #[error("cannot open the job store at {path}: {reason}")]
    Open {
        /// Path tried.
        path: PathBuf,
        /// Cause (in the message, so not also a source: printed once).
        reason: std::io::Error,
    },
    /// HOIST_HOME names a directory a store must not live in.
    #[error(
        "refusing to keep the job store in {path}: {why}; point HOIST_HOME (or --home) at a directory of your own (hoist creates a missing one with mode 0700)"
    )]
    UnsafeHome {
        /// The directory.
        path: PathBuf,
        /// Why not.
        why: String,
    },
    /// The file is not a readable hoist database.
    #[error(
        "the job store {path} is damaged or not a hoist database ({detail}); move it aside to start a new one, or restore it from a backup"
    )]
    Corrupt {
        /// Path of the database.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// The store may be read but not written.
    #[error(
        "the job store {path} is read-only ({why}); reading works, but this needs to write it: make it writable (chmod u+w) or point HOIST_HOME elsewhere"
    )]
    ReadOnly {
        /// Path of the database.
        path: PathBuf,
        /// Why it cannot be written.
        why: String,
    },
    /// The file system holding the store is full.
    #[error(
        "no space left on the device holding the job store ({}); free some space there (df -h {}) and run the command again",
        path.display(),
        path.parent().map(|p| p.display().to_string()).unwrap_or_default()
    )]
    NoSpace {
        /// Path of the database.
        path: PathBuf,
    },
    /// A newer hoist wrote this store.
    #[error(
        "the job store {path} has schema version {found}, newer than this hoist understands ({supported}); upgrade hoist"
    )]
    NewerSchema {
        /// Path of the database.
        path: PathBuf,
        /// Version found.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// No job matches.
    #[error("no job matches {0:?}")]
    NotFound(String),
    /// Several jobs match a prefix or name.
    #[error("{arg:?} matches {} jobs: {}", ids.len(), ids.iter().map(|i| &i[..i.len().min(12)]).collect::<Vec<_>>().join(", "))]
    Ambiguous {
        /// What was typed.
        arg: String,
        /// Matching ids.
        ids: Vec<String>,
    },
    /// A status change that the transition rules forbid.
    #[error("job {job_id} cannot go from {from} to {to}")]
    Transition {
        /// Job id.
        job_id: String,
        /// Current status.
        from: JobStatus,
        /// Requested status.
        to: JobStatus,
    },
    /// SQLite failed.
    #[error("job store error: {0}")]
    Sqlite(rusqlite::Error),
    /// A stored value could not be read back.
    #[error("job store holds an unreadable value in job {job_id} ({field}): {detail}")]
    BadValue {
        /// Job id.
        job_id: String,
        /// Column.
        field: &'static str,
        /// Parse error.
        detail: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        files::classify(None, e)
    }
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A filter for [`Store::list`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only jobs in this status.
    pub status: Option<JobStatus>,
    /// Only jobs on this platform.
    pub platform: Option<String>,
    /// Only jobs of this workflow.
    pub workflow_id: Option<String>,
    /// Only jobs that continue this job.
    pub parent_job_id: Option<String>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
}

/// One entry of a job's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    /// When.
    pub at: Timestamp,
    /// `status`, `launch`, `retry`, `cancel`.
    pub kind: String,
    /// Status after the event.
    pub status: Option<JobStatus>,
    /// Detail.
    pub message: String,
}

/// The job store. One per process; cheap to open.
pub struct Store {
    // One connection per store, behind a mutex so one handle serves many tasks and threads
    // (`Store: Sync`); each call holds it only for its own statements.
    conn: Mutex<Connection>,
    path: PathBuf,
    // The file may be read but not written: writes are refused before SQLite is asked.
    read_only: bool,
}

impl Store {
    /// Open (creating if needed) the store under `home`, migrating an older schema.
    pub fn open(home: &Path) -> Result<Store> {
        Self::open_at_version(home, SCHEMA_VERSION)
    }

    /// Open and migrate only up to `version` (tests build old stores with it).
    #[doc(hidden)]
    pub fn open_at_version(home: &Path, version: i64) -> Result<Store> {
        open::open(home, version)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Write a new job row (the launch fence: before the platform is called).
    pub fn insert(&self, job: &JobRecord) -> Result<()> {
        let tx = self.immediate()?;
        insert_on(&tx, job)?;
        tx.commit()
    }

    /// One job by exact id.
    pub fn get(&self, id: &str) -> Result<Option<JobRecord>> {
        row_by_id(&self.lock(), id)
    }

    /// Resolve a JOB argument (id, unique id prefix, or name) to one job.
    pub fn resolve(&self, arg: &str) -> Result<JobRecord> {
        let arg = arg.trim();
        if arg.is_empty() {
            return Err(StoreError::NotFound(arg.to_string()));
        }
        // A range on the primary key finds prefixes through the index: [arg, arg + U+10FFFF).
        let upper = format!("{arg}\u{10FFFF}");
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, name FROM jobs WHERE (id >= ?1 AND id < ?2) OR name = ?1 LIMIT 100",
        )?;
        let cands = stmt
            .query_map(params![arg, upper], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        match match_job(arg, &cands) {
            JobMatch::One(id) => {
                row_by_id(&conn, &id)?.ok_or_else(|| StoreError::NotFound(arg.to_string()))
            }
            JobMatch::None => Err(StoreError::NotFound(arg.to_string())),
            JobMatch::Ambiguous(ids) => Err(StoreError::Ambiguous {
                arg: arg.to_string(),
                ids,
            }),
        }
    }

    /// Jobs, newest first.
    pub fn list(&self, f: &ListFilter) -> Result<Vec<JobRecord>> {
        let (sql, args) = list_sql(COLUMNS, f);
        collect(
            &self.lock(),
            &sql,
            rusqlite::params_from_iter(args.iter()),
            read_row,
        )
    }

    /// Job summaries (no spec, no history), newest first: what listings print.
    pub fn list_summaries(&self, f: &ListFilter) -> Result<Vec<JobSummary>> {
        let (sql, args) = list_sql(SUMMARY_COLUMNS, f);
        collect(
            &self.lock(),
            &sql,
            rusqlite::params_from_iter(args.iter()),
            read_summary,
        )
    }

    /// Jobs not yet terminal (the ones a refresh must ask their platform about).
    pub fn active(&self) -> Result<Vec<JobRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs WHERE status NOT IN ('Complete','Error','Canceled') ORDER BY rowid DESC"
        );
        collect(&self.lock(), &sql, [], read_row)
    }

    /// Jobs whose launch was never confirmed.
    pub fn launching(&self) -> Result<Vec<JobRecord>> {
        collect(
            &self.lock(),
            &format!("SELECT {COLUMNS} FROM jobs WHERE launch_state = 'launching'"),
            [],
            read_row,
        )
    }

    /// Close the launch fence: the platform has the job. Only the holder of the token may.
    pub fn mark_launched(&self, id: &str, token: &str, sub: &Submitted) -> Result<bool> {
        let tx = self.immediate()?;
        let n = tx.execute(
            "UPDATE jobs SET launch_state='launched', backend_job_id=?3, backend_identity=?4, results_location=?5, message=?6, updated_at=?7 WHERE id=?1 AND launch_token=?2 AND launch_state='launching'",
            params![id, token, sub.backend_job_id, sub.backend_identity, sub.results_location, sub.message, ts(hoist_core::now())],
        )?;
        if n == 1 {
            add_event(
                &tx,
                id,
                "launch",
                None,
                &format!("backend id {}", sub.backend_job_id),
            )?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    /// Close the launch fence the other way: the platform never got the job.
    pub fn mark_abandoned(&self, id: &str, token: &str, message: &str) -> Result<bool> {
        let tx = self.immediate()?;
        let cur: Option<String> = tx
            .query_row("SELECT status FROM jobs WHERE id=?1 AND launch_token=?2 AND launch_state='launching'", params![id, token], |r| r.get(0))
            .optional()?;
        let Some(cur) = cur else { return Ok(false) };
        let now = ts(hoist_core::now());
        let terminal = cur
            .parse::<JobStatus>()
            .map(|s| s.is_terminal())
            .unwrap_or(false);
        if terminal {
            tx.execute(
                "UPDATE jobs SET launch_state='abandoned', updated_at=?2 WHERE id=?1",
                params![id, now],
            )?;
        } else {
            tx.execute(
                "UPDATE jobs SET launch_state='abandoned', status='Error', message=?2, updated_at=?3, finished_at=?3 WHERE id=?1",
                params![id, message, now],
            )?;
        }
        add_event(&tx, id, "launch", Some(JobStatus::Error), message)?;
        tx.commit()?;
        Ok(true)
    }

    /// Apply a platform's report if the transition rules allow it (compare-and-set against
    /// the stored status; `expected` narrows it further). Returns the stored record after.
    pub fn apply_report(
        &self,
        id: &str,
        expected: Option<JobStatus>,
        rep: &StatusReport,
    ) -> Result<(bool, JobRecord)> {
        let tx = self.immediate()?;
        let cur = row_by_id(&tx, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let allowed =
            expected.is_none_or(|e| e == cur.status) && cur.status.can_transition_to(rep.status);
        let unchanged = cur.status == rep.status
            && cur.message == rep.message
            && cur.exit_code == rep.exit_code;
        if !allowed || unchanged {
            tx.rollback();
            return Ok((false, cur));
        }
        let now = hoist_core::now();
        let finished = if rep.status.is_terminal() {
            rep.finished_at.or(Some(now))
        } else {
            None
        };
        tx.execute(
            "UPDATE jobs SET status=?2, message=?3, exit_code=COALESCE(?4, exit_code), started_at=COALESCE(started_at, ?5), finished_at=COALESCE(?6, finished_at), updated_at=?7 WHERE id=?1",
            params![id, rep.status.as_str(), rep.message, rep.exit_code, rep.started_at.map(ts), finished.map(ts), ts(now)],
        )?;
        if cur.status != rep.status {
            add_event(&tx, id, "status", Some(rep.status), &rep.message)?;
        }
        let after = row_by_id(&tx, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        tx.commit()?;
        Ok((true, after))
    }

    /// Set a status directly, under the transition rules (errors when they forbid it).
    pub fn set_status(&self, id: &str, status: JobStatus, message: &str) -> Result<JobRecord> {
        let rep = StatusReport {
            status,
            message: message.to_string(),
            exit_code: None,
            started_at: None,
            finished_at: None,
            retriable: false,
            restarts: None,
        };
        let (changed, rec) = self.apply_report(id, None, &rep)?;
        if !changed && rec.status != status {
            return Err(StoreError::Transition {
                job_id: id.to_string(),
                from: rec.status,
                to: status,
            });
        }
        Ok(rec)
    }

    /// Record a cancel request: Canceling unless the job already ended. Returns the record.
    pub fn request_cancel(&self, id: &str) -> Result<JobRecord> {
        let tx = self.immediate()?;
        let now = ts(hoist_core::now());
        let n = tx.execute(
            "UPDATE jobs SET status='Canceling', cancel_requested=1, updated_at=?2 WHERE id=?1 AND status NOT IN ('Complete','Error','Canceled')",
            params![id, now],
        )?;
        if n == 1 {
            add_event(
                &tx,
                id,
                "cancel",
                Some(JobStatus::Canceling),
                "cancel requested",
            )?;
        }
        let rec = row_by_id(&tx, id)?;
        tx.commit()?;
        rec.ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    /// Record a retry: the old attempt goes to history, the job gets a new backend id.
    pub fn record_retry(&self, id: &str, reason: &str, sub: &Submitted) -> Result<JobRecord> {
        let tx = self.immediate()?;
        let cur = row_by_id(&tx, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let mut history = cur.retry_history.clone();
        history.push(RetryAttempt {
            attempt: cur.retry_count + 1,
            backend_job_id: cur.backend_job_id.clone(),
            reason: reason.to_string(),
            at: hoist_core::now(),
        });
        let hist = serde_json::to_string(&history).map_err(|e| bad(id, "retry_history", e))?;
        let now = ts(hoist_core::now());
        tx.execute(
            "UPDATE jobs SET retry_count=retry_count+1, retry_history=?2, backend_job_id=?3, status=?4, message=?5, exit_code=NULL, finished_at=NULL, updated_at=?6 WHERE id=?1",
            params![id, hist, sub.backend_job_id, sub.status.as_str(), sub.message, now],
        )?;
        add_event(&tx, id, "retry", Some(sub.status), reason)?;
        let rec = row_by_id(&tx, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        tx.commit()?;
        Ok(rec)
    }

    /// Replace what the platform pinned for a job: a platform may know it only once the job is
    /// submitted (the id of the cloud instance it created).
    pub fn set_pinned(&self, id: &str, pinned: Option<&serde_json::Value>) -> Result<()> {
        let text = pinned
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| bad(id, "pinned", e))?;
        self.lock()
            .execute("UPDATE jobs SET pinned=?2 WHERE id=?1", params![id, text])?;
        Ok(())
    }

    /// Record runs the backend made by itself (in-place requeues): the retry count becomes
    /// `restarts`, one history entry per new run.
    pub fn note_restarts(&self, id: &str, restarts: u32, reason: &str) -> Result<JobRecord> {
        let tx = self.immediate()?;
        let cur = row_by_id(&tx, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        if restarts > cur.retry_count {
            let mut history = cur.retry_history.clone();
            for n in cur.retry_count + 1..=restarts {
                history.push(RetryAttempt {
                    attempt: n,
                    backend_job_id: cur.backend_job_id.clone(),
                    reason: reason.to_string(),
                    at: hoist_core::now(),
                });
            }
            let hist = serde_json::to_string(&history).map_err(|e| bad(id, "retry_history", e))?;
            let now = ts(hoist_core::now());
            tx.execute(
                "UPDATE jobs SET retry_count=?2, retry_history=?3, updated_at=?4 WHERE id=?1",
                params![id, restarts, hist, now],
            )?;
            add_event(
                &tx,
                id,
                "retry",
                None,
                &format!("run {} times by the backend: {reason}", restarts + 1),
            )?;
        }
        let rec = row_by_id(&tx, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        tx.commit()?;
        Ok(rec)
    }

    /// Remove a job and its history.
    pub fn delete(&self, id: &str) -> Result<bool> {
        Ok(self
            .lock()
            .execute("DELETE FROM jobs WHERE id = ?1", [id])?
            == 1)
    }

    /// A job's history, oldest first.
    pub fn events(&self, id: &str) -> Result<Vec<JobEvent>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT at, kind, status, message FROM job_events WHERE job_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (at, kind, status, message) = row?;
            out.push(JobEvent {
                at: parse_ts(id, "event.at", &at)?,
                kind,
                status: status.and_then(|s| s.parse().ok()),
                message,
            });
        }
        Ok(out)
    }

    /// Insert many rows in one transaction (benchmarks and imports).
    pub fn insert_many(&self, jobs: &[JobRecord]) -> Result<()> {
        let tx = self.immediate()?;
        for j in jobs {
            insert_on(&tx, j)?;
        }
        tx.commit()
    }

    /// The connection. A panic while it was held cannot leave SQLite half-done (an open
    /// transaction rolls back when its guard drops), so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        files::set_current(&self.path);
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Begin a write transaction that holds the database lock from its first statement, so
    /// a read-check-write inside it cannot interleave with another process.
    fn immediate(&self) -> Result<Tx<'_>> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
                why: "its file has no write permission".into(),
            });
        }
        let conn = self.lock();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Tx { conn, done: false })
    }
}

struct Tx<'c> {
    conn: MutexGuard<'c, Connection>,
    done: bool,
}

impl Tx<'_> {
    fn commit(mut self) -> Result<()> {
        self.done = true;
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    fn rollback(mut self) {
        self.done = true;
        let _ = self.conn.execute_batch("ROLLBACK");
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.done {
            // An early return by `?` left the transaction open: undo it so the lock is freed.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
