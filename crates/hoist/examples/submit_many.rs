//! Submit N copies of one command with a single `Hoist::create_jobs` call, for
//! bench/slurm_batch.sh (until a front door exposes batches):
//!
//! ```sh
//! HOIST_PLATFORM=slurm cargo run --release --example submit_many -- 200 sleep 600
//! ```
//!
//! The platform and its settings come from the environment, as for `hoist run`. Prints one
//! JSON line: how many were submitted and failed, the first error, and the wall time of the
//! `create_jobs` call and of the whole program.

use hoist::core::Command;
use hoist::{Hoist, JobRequest};
use std::time::Instant;

fn main() {
    let start = Instant::now();
    let mut args = std::env::args().skip(1);
    let n: usize = match args.next().and_then(|a| a.parse().ok()) {
        Some(n) => n,
        None => {
            eprintln!("usage: submit_many N COMMAND [ARG...]");
            std::process::exit(2);
        }
    };
    let command: Vec<String> = args.collect();
    if command.is_empty() {
        eprintln!("usage: submit_many N COMMAND [ARG...]");
        std::process::exit(2);
    }
    let h = match Hoist::open(None) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let reqs: Vec<JobRequest> = (0..n)
        .map(|i| {
            let mut r = JobRequest::new(Command::Argv(command.clone()));
            r.name = Some(format!("many-{i}"));
            r
        })
        .collect();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let t0 = Instant::now();
    let answers = rt.block_on(h.create_jobs(reqs));
    let submit_ms = t0.elapsed().as_secs_f64() * 1e3;
    let failed: Vec<String> = answers
        .iter()
        .filter_map(|a| a.as_ref().err().map(|e| e.to_string()))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "jobs": n,
            "submitted": n - failed.len(),
            "failed": failed.len(),
            "first_error": failed.first(),
            "create_jobs_ms": submit_ms,
            "process_ms": start.elapsed().as_secs_f64() * 1e3,
        })
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
