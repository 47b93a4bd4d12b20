use super::{Flags, print_json};
use crate::cli::ConfigShowArgs;
use crate::output;
use hoist::Hoist;

pub fn show(h: &Hoist, a: ConfigShowArgs, flags: &Flags) -> anyhow::Result<i32> {
    let v = h.config_show(a.platform.as_deref(), a.profile.as_deref(), flags)?;
    if a.json {
        print_json(&v)?;
        return Ok(0);
    }
    println!("platform {} ({})", v.platform, v.platform_source);
    if let Some(p) = &v.profile {
        println!("profile  {p}");
    }
    let rows: Vec<(&str, String)> = v
        .settings
        .iter()
        .map(|s| {
            let shown = match (&s.source, &s.value) {
                (Some(src), serde_json::Value::String(t)) => format!("{t}  ({src})"),
                (Some(src), val) => format!("{val}  ({src})"),
                (None, _) => match s.default {
                    Some(how) => format!("-  (unset; default: {how})"),
                    None => "-  (unset)".to_string(),
                },
            };
            (s.key, shown)
        })
        .collect();
    println!("{}", output::kv(&rows));
    Ok(0)
}
