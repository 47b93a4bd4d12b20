use super::{input, print_json};
use crate::cli::PlatformsArgs;
use crate::output;
use hoist::Hoist;
use hoist::core::DefaultValue;

pub fn run(h: &Hoist, a: PlatformsArgs) -> anyhow::Result<i32> {
    let mut all = h.platforms();
    if let Some(n) = &a.name {
        let canon = hoist::canonical_platform(n).map_err(input)?;
        all.retain(|p| p.name == canon);
    }
    if a.json {
        print_json(&all)?;
        return Ok(0);
    }
    for (i, p) in all.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let aliases = if p.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also {})", p.aliases.join(", "))
        };
        let mark = if p.readiness.configured {
            "configured"
        } else {
            "not configured"
        };
        println!("{}{aliases}: {}", p.name, p.summary);
        println!("  {mark}: {}", p.readiness.reason);
        let rows: Vec<(&str, String)> = p
            .settings
            .iter()
            .map(|s| {
                let mut v = vec![s.kind.as_str().to_string()];
                if let Some(f) = s.flag {
                    v.push(f.to_string());
                }
                if !s.env.is_empty() {
                    v.push(format!("env {}", s.env.join("/")));
                }
                match s.default {
                    DefaultValue::Value(d) => v.push(format!("default {d}")),
                    DefaultValue::Computed(d) => v.push(format!("default: {d}")),
                    DefaultValue::None => {}
                }
                (s.key, format!("{} — {}", v.join(", "), s.doc))
            })
            .collect();
        for line in output::kv(&rows).lines() {
            println!("  {line}");
        }
    }
    Ok(0)
}
