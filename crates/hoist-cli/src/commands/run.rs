use super::{Flags, exit_suffix, input, write_chunk};
use crate::cli::RunArgs;
use crate::output;
use anyhow::Context;
use hoist::core::spec::{parse_env_arg, parse_memory};
use hoist::core::{Command, JobStatus};
use hoist::request::{parse_arg, parse_binding, parse_kv, read_env_file};
use hoist::{Hoist, JobRequest};

/// The request the flags describe.
fn request(h: &Hoist, a: &RunArgs, flags: Flags) -> anyhow::Result<JobRequest> {
    let mut req = JobRequest::new(Command::from_cli(a.command.clone()).map_err(input)?);
    req.platform = a.platform.clone();
    req.profile = a.profile.clone();
    req.image = a.image.clone();
    req.name = a.name.clone();
    if let Some(g) = a.gpus.as_deref() {
        let (count, model) = hoist::request::parse_gpus(g).map_err(input)?;
        req.gpus = Some(count);
        req.gpu_type = model;
    }
    req.nodes = a.nodes;
    req.cpus = a.cpus;
    req.memory_bytes = a
        .memory
        .as_deref()
        .map(parse_memory)
        .transpose()
        .map_err(input)?;
    req.shell = a.shell.clone();
    req.workdir = a.workdir.clone();
    req.platform_options = flags;
    for f in &a.env_file {
        for (k, v) in read_env_file(f).map_err(input)? {
            req.env.push((k, Some(v)));
        }
    }
    for e in &a.env {
        req.env.push(parse_env_arg(e).map_err(input)?);
    }
    for l in &a.labels {
        let (k, v) = parse_kv("--label", l, "KEY=VALUE").map_err(input)?;
        req.labels.insert(k, v);
    }
    for i in &a.inputs {
        req.inputs
            .push(parse_binding("--input", i, true).map_err(input)?);
    }
    for o in &a.outputs {
        req.outputs
            .push(parse_binding("--output", o, false).map_err(input)?);
    }
    if let Some(f) = &a.spec {
        let (spec, fmt) = hoist::load_spec(f)?;
        req.spec = Some(spec);
        req.spec_format = Some(fmt);
    }
    if let Some(f) = &a.spec_format {
        req.spec_format = Some(f.parse().map_err(input)?);
    }
    for kv in &a.args {
        let (k, v) = parse_arg(kv).map_err(input)?;
        req.args.insert(k, v);
    }
    if let Some(m) = &a.mode {
        req.mode = Some(m.parse().map_err(input)?);
    }
    req.upload_excludes = a.upload_excludes.clone();
    if let Some(p) = &a.parent {
        req.parent_job_id = Some(h.resolve(p)?.job_id);
    }
    Ok(req)
}

pub async fn run(
    h: &Hoist,
    a: RunArgs,
    flags: Flags,
    reporter: hoist::core::SharedReporter,
) -> anyhow::Result<i32> {
    let req = request(h, &a, flags)?;
    if !a.matrix.is_empty() {
        return super::sweep::run(h, &a, req, reporter).await;
    }
    if a.dry_run {
        let d = h.dry_run(&req).await?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&d.json)?);
        } else {
            println!("{}", d.text.trim_end());
        }
        return Ok(0);
    }
    let job = h.create_job(req).await.context("submit failed")?;
    if a.detach {
        if a.json {
            println!("{}", output::job_json(&job));
        } else {
            println!("{}", job.job_id);
        }
        return Ok(0);
    }
    super::say_submitted(&job);
    let follow = async {
        // With --json the one JSON object owns stdout, so the job's output goes to stderr.
        let json = a.json;
        h.follow_to_end(&job, None, |chunk| {
            let _ = if json {
                write_chunk(&mut std::io::stderr().lock(), chunk)
            } else {
                write_chunk(&mut std::io::stdout().lock(), chunk)
            };
        })
        .await
    };
    tokio::select! {
        r = follow => {
            let done = r?;
            if a.json {
                println!("{}", output::job_json(&done));
            }
            eprintln!("hoist: job {} {}{}", done.short_id(), done.status, exit_suffix(&done));
            if done.status == JobStatus::Error {
                eprintln!("hoist: why: hoist why {}", done.short_id());
            }
            Ok(done.status.cli_exit_code(done.exit_code).unwrap_or(1))
        }
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\nhoist: detached; job {} keeps running (hoist logs -f {0}, hoist cancel {0})", job.short_id());
            Ok(130)
        }
    }
}
