use super::{exit_suffix, print_json};
use crate::cli::JobJson;
use crate::output;
use hoist::Hoist;
use hoist::views::{EventView, ShowView};

pub async fn run(h: &Hoist, a: JobJson) -> anyhow::Result<i32> {
    let j = h.status(&a.job).await?;
    let events = h.store().events(&j.job_id)?;
    let details = h.details(&j).await;
    if a.json {
        print_json(&ShowView {
            platform_details: details,
            events: events.iter().map(EventView::from).collect(),
            job: j,
        })?;
        return Ok(0);
    }
    let env: Vec<String> = j.spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let profile = j
        .profile
        .as_ref()
        .map(|p| format!(" (profile {p})"))
        .unwrap_or_default();
    println!(
        "{}",
        output::kv(&[
            ("id", j.job_id.clone()),
            ("name", j.name.clone()),
            ("platform", format!("{}{profile}", j.platform)),
            (
                "status",
                format!("{}{}", output::status_word(j.status), exit_suffix(&j))
            ),
            ("message", j.message.clone()),
            ("command", j.spec.command.display()),
            ("gpus", j.spec.gpus.to_string()),
            ("env", env.join(" ")),
            ("backend id", j.backend_job_id.clone().unwrap_or_default()),
            ("backend", j.backend_identity.clone().unwrap_or_default()),
            ("results", j.results_location.clone().unwrap_or_default()),
            ("created", j.created_at.to_string()),
            (
                "started",
                j.started_at.map(|t| t.to_string()).unwrap_or_default()
            ),
            (
                "finished",
                j.finished_at.map(|t| t.to_string()).unwrap_or_default()
            ),
            (
                "retries",
                if j.retry_count > 0 {
                    j.retry_count.to_string()
                } else {
                    String::new()
                }
            ),
        ])
    );
    if let Some(d) = details.filter(|d| !d.replicas.is_empty()) {
        println!("\nreplicas:");
        for r in d.replicas {
            println!(
                "  {:<4} {:<40} {:<10} {:<20} {}",
                r.rank.as_deref().unwrap_or("-"),
                r.name,
                r.phase,
                r.node.as_deref().unwrap_or("(unscheduled)"),
                r.issue.as_deref().unwrap_or_default()
            );
        }
    }
    println!("\nhistory:");
    for e in events {
        println!(
            "  {}  {:<7} {:<9} {}",
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.kind,
            e.status.map(|s| s.to_string()).unwrap_or_default(),
            e.message
        );
    }
    Ok(0)
}
