use crate::cli::JobJson;
use crate::output;
use hoist::Hoist;
use hoist::core::JobSummary;

pub async fn run(h: &Hoist, a: JobJson) -> anyhow::Result<i32> {
    let j = h.status(&a.job).await?;
    if a.json {
        println!("{}", output::job_json(&j));
    } else {
        println!(
            "{}",
            output::jobs_table(&[JobSummary::from(&j)], Some(h.pending_hint_after()))
        );
    }
    Ok(0)
}
