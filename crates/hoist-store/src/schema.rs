//! Schema migrations. Each entry moves the database one version up; never edit a released one,
//! append a new one.

/// Newest schema this build writes.
pub const SCHEMA_VERSION: i64 = 3;

/// Migration `i` takes the database from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: jobs
    "CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        platform TEXT NOT NULL,
        profile TEXT,
        backend_job_id TEXT,
        backend_identity TEXT,
        status TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        exit_code INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        retry_count INTEGER NOT NULL DEFAULT 0,
        retry_history TEXT NOT NULL DEFAULT '[]',
        results_location TEXT,
        parent_job_id TEXT,
        workflow_id TEXT,
        spec TEXT NOT NULL,
        launch_state TEXT NOT NULL,
        launch_token TEXT NOT NULL,
        launcher TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_created ON jobs (created_at);
    CREATE INDEX jobs_status ON jobs (status);",
    // 2: per-job history, name lookups
    "CREATE TABLE job_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT,
        message TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX job_events_job ON job_events (job_id);
    CREATE INDEX jobs_name ON jobs (name);
    CREATE INDEX jobs_launch ON jobs (launch_state);",
    // 3: platform options keyed by platform (each job keeps only its own platform's), and
    // what the platform pinned at submit in a column of its own. Schema-2 rows kept every
    // platform's options; the job's own entry holds what it pinned then (endpoint, login
    // hosts, context), which each platform reads back from the pinned value.
    "ALTER TABLE jobs ADD COLUMN pinned TEXT;
    UPDATE jobs SET
        pinned = json_extract(spec, '$.platform_options.' || platform),
        spec = json_set(spec, '$.platform_options',
            CASE WHEN json_type(spec, '$.platform_options.' || platform) IS NULL
                 THEN json_object()
                 ELSE json_object(platform, json_extract(spec, '$.platform_options.' || platform))
            END);
    CREATE INDEX jobs_workflow ON jobs (workflow_id);
    CREATE INDEX jobs_parent ON jobs (parent_job_id);",
];
