//! `hoist why JOB` on a job that has not ended: why it is still waiting, or that it runs.

use super::print_json;
use crate::output;
use hoist::Hoist;
use hoist::core::JobRecord;
use hoist::views::PendingView;

pub async fn run(h: &Hoist, j: &JobRecord, json: bool) -> anyhow::Result<i32> {
    let analysis = h.pending_analysis(j).await?;
    let view = PendingView::new(j, analysis);
    if json {
        print_json(&view)?;
        return Ok(0);
    }
    let waited = view
        .pending_secs
        .map(|s| format!(" for {}", output::duration(s)))
        .unwrap_or_default();
    println!(
        "job {} {}{waited}",
        j.short_id(),
        output::status_word(j.status)
    );
    match &view.reason {
        Some(reason) => {
            let stuck = if view.stuck {
                " (it will not start by waiting)"
            } else {
                ""
            };
            println!("reason: {reason}");
            println!("waiting because: {}{stuck}", view.explanation);
            println!("what would unblock it: {}", view.unblock);
            println!("evidence: {}", view.evidence);
        }
        None => println!("{}", view.explanation),
    }
    Ok(0)
}
