//! Fill a store with N finished jobs, for benchmarks: `seed HOME N`.

use hoist_core::{Command, JobRecord, JobSpec, JobStatus, LaunchState};
use hoist_store::Store;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let home = args.next().ok_or("usage: seed HOME N")?;
    let n: usize = args.next().ok_or("usage: seed HOME N")?.parse()?;
    let store = Store::open(std::path::Path::new(&home))?;
    let base = hoist_core::now();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        let at = base.checked_sub(jiff::SignedDuration::from_secs((n - i) as i64))?;
        let (status, code, msg) = match i % 10 {
            0 => (JobStatus::Error, Some(1), "exited with code 1"),
            1 => (
                JobStatus::Canceled,
                Some(143),
                "canceled; the command ended on SIGTERM",
            ),
            _ => (JobStatus::Complete, Some(0), ""),
        };
        let mut spec = JobSpec::new(Command::Argv(vec![
            "python".into(),
            "train.py".into(),
            format!("--seed={i}"),
        ]));
        spec.set_env("EPOCHS", Some("10".into()));
        let mut j = JobRecord::pending(uuid_like(i), "local".into(), spec, format!("token-{i}"));
        j.name = format!("train-{i}");
        j.backend_job_id = Some(format!("{}:{}", 10_000 + i, 1_000_000 + i));
        j.backend_identity = Some("local:bench".into());
        (j.status, j.exit_code, j.message) = (status, code, msg.into());
        (j.created_at, j.updated_at, j.started_at, j.finished_at) = (at, at, Some(at), Some(at));
        j.results_location = Some(format!("{home}/results/{}", uuid_like(i)));
        j.launch_state = LaunchState::Launched;
        batch.push(j);
        if batch.len() == 1000 {
            store.insert_many(&batch)?;
            batch.clear();
        }
    }
    store.insert_many(&batch)?;
    println!("{}", uuid_like(n / 2));
    Ok(())
}

/// Deterministic ids spread over the key space like UUIDs.
fn uuid_like(i: usize) -> String {
    let h = (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    let s = format!("{h:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &s[0..8],
        &s[8..12],
        &s[13..16],
        &s[17..20],
        &s[20..32]
    )
}
