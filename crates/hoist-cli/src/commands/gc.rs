//! `hoist gc`: remove ended jobs' backend leftovers (stopped containers) by age and count.

use crate::cli::GcArgs;
use hoist::core::age::parse_age;
use hoist::{GcOptions, Hoist};

pub async fn run(h: &Hoist, a: GcArgs) -> anyhow::Result<i32> {
    let older_than = a
        .older_than
        .as_deref()
        .map(|v| parse_age("--older-than", v))
        .transpose()
        .map_err(super::input)?;
    let opts = GcOptions {
        older_than,
        keep: a.keep,
        dry_run: a.dry_run,
        platform: a.platform,
    };
    let done = h.gc(&opts).await?;
    let failed = done.iter().filter(|c| c.error.is_some()).count();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        for c in &done {
            let short: String = c.job_id.chars().take(8).collect();
            match &c.error {
                Some(e) => eprintln!("could not remove what {short} ({}) keeps: {e}", c.name),
                None if a.dry_run => println!(
                    "would remove {short} ({}, {} {})",
                    c.name, c.platform, c.status
                ),
                None => println!("removed {short} ({}, {} {})", c.name, c.platform, c.status),
            }
        }
        if done.is_empty() {
            eprintln!("nothing to remove");
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
