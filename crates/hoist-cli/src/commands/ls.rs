use super::input;
use crate::cli::LsArgs;
use crate::output;
use hoist::Hoist;
use hoist::core::{InputError, JobStatus};
use hoist::store::ListFilter;
use std::io::Write;

pub async fn run(h: &Hoist, a: LsArgs) -> anyhow::Result<i32> {
    let status = a
        .status
        .as_deref()
        .map(str::parse::<JobStatus>)
        .transpose()
        .map_err(|e| input(InputError::new(e.to_string(), "")))?;
    let platform = a
        .platform
        .as_deref()
        .map(hoist::canonical_platform)
        .transpose()
        .map_err(input)?
        .map(str::to_string);
    let parent_job_id = match &a.parent {
        Some(p) => Some(h.resolve(p)?.job_id),
        None => None,
    };
    let jobs = h
        .list(&ListFilter {
            status,
            platform,
            workflow_id: match &a.run {
                Some(r) => Some(
                    hoist_task::runs::find(&h.home().join("runs"), r)
                        .map_err(input)?
                        .workflow_id,
                ),
                None => a.workflow.clone(),
            },
            parent_job_id,
            limit: a.limit,
        })
        .await?;
    if a.json {
        // Buffered: stdout is line-buffered, and ten thousand jobs are one long line.
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        serde_json::to_writer(&mut out, &jobs)?;
        let _ = writeln!(out);
        let _ = out.flush();
    } else if jobs.is_empty() {
        eprintln!("no jobs yet; start one with: hoist run -- echo hello");
    } else {
        println!(
            "{}",
            output::jobs_table(&jobs, Some(h.pending_hint_after()))
        );
    }
    Ok(0)
}
