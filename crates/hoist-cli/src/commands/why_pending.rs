//! `hoist why JOB` on a job that has not ended: why it is still waiting.

use super::print_json;
use hoist::Hoist;
use hoist::core::JobRecord;
use hoist::views::{WhyView, nothing_to_explain};

pub async fn run(_h: &Hoist, j: &JobRecord, json: bool) -> anyhow::Result<i32> {
    if json {
        print_json(&WhyView::new(j, None))?;
    } else {
        println!("job {}: {}", j.short_id(), nothing_to_explain(j));
    }
    Ok(0)
}
