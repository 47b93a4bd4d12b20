use crate::cli::PathArgs;
use hoist::Hoist;
use serde_json::json;
use std::io::Write;

pub async fn check(h: &Hoist, a: PathArgs) -> anyhow::Result<i32> {
    let platform = a.platform.as_deref().unwrap_or("local");
    let ok = h.check_path(platform, &a.uri).await?;
    if a.json {
        println!("{}", json!({"uri": a.uri, "exists": ok}));
    } else {
        println!("{}", if ok { "exists" } else { "missing" });
    }
    Ok(if ok { 0 } else { 1 })
}

pub async fn list(h: &Hoist, a: PathArgs) -> anyhow::Result<i32> {
    let platform = a.platform.as_deref().unwrap_or("local");
    let entries = h.list_path(platform, &a.uri).await?;
    if a.json {
        println!("{}", serde_json::to_string(&entries)?);
    } else {
        let mut out = std::io::stdout().lock();
        for e in entries {
            writeln!(out, "{e}")?;
        }
    }
    Ok(0)
}
