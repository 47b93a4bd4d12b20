use super::{Flags, input, print_json};
use crate::cli::PreflightArgs;
use hoist::core::{Command, PreflightRequest};
use hoist::request::parse_kv;
use hoist::{Hoist, JobRequest};

pub async fn run(h: &Hoist, a: PreflightArgs, flags: Flags) -> anyhow::Result<i32> {
    let req = JobRequest {
        platform: a.platform.clone(),
        profile: a.profile.clone(),
        image: a.image.clone(),
        platform_options: flags,
        ..JobRequest::new(Command::Argv(vec!["true".into()]))
    };
    let mut paths = Vec::new();
    for p in &a.paths {
        paths.push(parse_kv("--path", p, "NAME=PATH").map_err(input)?);
    }
    let view = h
        .preflight(
            &req,
            &PreflightRequest {
                image: a.image.clone(),
                gpu_smoke_image: a.gpu_smoke_image.clone(),
                paths,
            },
        )
        .await?;
    if a.json {
        print_json(&view)?;
    } else {
        for c in &view.checks {
            let mark = if c.ok {
                "ok  "
            } else if c.required {
                "FAIL"
            } else {
                "warn"
            };
            println!("{mark}  {:<14} {}", c.name, c.detail);
            if !c.ok {
                println!("      fix: {}", c.remedy);
            }
        }
        let state = if view.ok { "ready" } else { "not ready" };
        println!("{}: {state}", view.platform);
    }
    Ok(if view.ok { 0 } else { 1 })
}
