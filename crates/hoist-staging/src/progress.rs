//! Transfer progress, told to a [`Reporter`] rather than drawn: the front door decides whether
//! and how to show it (the CLI draws bars on a terminal only, never in job logs).

use hoist_core::{ReportEvent, SharedReporter};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

static REPORTER: OnceLock<SharedReporter> = OnceLock::new();

/// Where every transfer of this process reports (set once by the program; silent until then).
/// Transfers run deep inside object-store and hub clients that take no context, so one
/// process-wide reporter is what keeps their signatures plain.
pub fn set_reporter(r: SharedReporter) {
    let _ = REPORTER.set(r);
}

fn reporter() -> Option<&'static SharedReporter> {
    REPORTER.get()
}

/// A byte counter reported under its label.
#[derive(Clone)]
pub struct Progress(Arc<Inner>);

struct Inner {
    label: String,
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress {
    /// A transfer of `total` bytes (0: unknown) labelled `label`.
    pub fn bytes(label: &str, total: u64) -> Progress {
        Progress(Arc::new(Inner {
            label: label.to_string(),
            total: AtomicU64::new(total),
            done: AtomicU64::new(0),
        }))
    }

    /// Count `n` more bytes.
    pub fn add(&self, n: u64) {
        let done = self.0.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(r) = reporter() {
            let total = self.0.total.load(Ordering::Relaxed);
            r.report(ReportEvent::Transfer {
                key: &self.0.label,
                done,
                total: (total > 0).then_some(total),
            });
        }
    }

    /// Done.
    pub fn finish(&self) {
        if let Some(r) = reporter() {
            r.report(ReportEvent::Done { key: &self.0.label });
        }
    }
}
