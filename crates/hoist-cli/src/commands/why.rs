use super::{exit_suffix, print_json};
use crate::cli::JobJson;
use crate::output;
use hoist::Hoist;
use hoist::views::{WhyView, nothing_to_explain};

pub async fn run(h: &Hoist, a: JobJson) -> anyhow::Result<i32> {
    let j = h.status(&a.job).await?;
    if !j.status.is_terminal() && j.status != hoist::core::JobStatus::Unknown {
        return super::why_pending::run(h, &j, a.json).await;
    }
    let analysis = h.failure_analysis(&j).await?;
    if a.json {
        print_json(&WhyView::new(&j, analysis))?;
    } else if let Some(fa) = analysis {
        println!(
            "job {} {}{}",
            j.short_id(),
            output::status_word(j.status),
            exit_suffix(&j)
        );
        println!(
            "{}",
            output::kv(&[
                ("class", fa.err_class.as_str().to_string()),
                ("cause", fa.cause),
                ("fix", fa.suggestion),
                ("retriable", fa.retriable.to_string())
            ])
        );
        if !fa.events.is_empty() {
            println!("evidence:");
            for e in fa.events {
                println!("  {}: {}", e.node_event_name, e.message);
            }
        }
    } else {
        println!("job {}: {}", j.short_id(), nothing_to_explain(&j));
    }
    Ok(0)
}
