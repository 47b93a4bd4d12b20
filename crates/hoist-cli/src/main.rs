//! The `hoist` binary: parses flags and hands each verb to the hoist library.

mod cli;
mod output;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use cli::{Cli, Cmd, RunArgs};
use futures::StreamExt;
use hoist::{Hoist, HoistError, JobRequest};
use hoist_core::platform::PreflightRequest;
use hoist_core::spec::{parse_env_arg, parse_env_file, parse_memory};
use hoist_core::{CancelOutcome, Command, InputError, JobRecord, JobStatus, JobSummary};
use hoist_store::ListFilter;
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Cmd::Supervise { dir } = &cli.command {
        // The supervisor needs no runtime, store or config: keep it small and independent.
        return ExitCode::from(hoist_local::supervisor::supervise(dir).clamp(0, 255) as u8);
    }
    if let Cmd::Runner { plan } = &cli.command {
        // Inside the job: no store, no config, only the plan and the environment.
        return ExitCode::from(hoist::run_plan(plan.as_deref()).clamp(0, 255) as u8);
    }
    if let Cmd::Install { dir } = &cli.command {
        return match hoist::install_runner(dir) {
            Ok(p) => {
                println!("{}", p.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        };
    }
    if let Cmd::Completions { shell } = &cli.command {
        clap_complete::generate(*shell, &mut Cli::command(), "hoist", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS, // the reader left (`| head`): not an error
        Err(e) => {
            let (code, hint) = match e.downcast_ref::<HoistError>() {
                Some(h) => (h.exit_code(), h.hint()),
                None => (1, None),
            };
            eprintln!("error: {e:#}");
            if let Some(h) = hint.filter(|h| !h.is_empty()) {
                eprintln!("  hint: {h}");
            }
            ExitCode::from(code as u8)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    let h = Hoist::open(cli.home.clone())?;
    // Settle interrupted submits before anything reads the store ("automatic on next access").
    let settled = h.reconcile().await?;
    if !matches!(cli.command, Cmd::Reconcile) {
        for (job, what) in &settled {
            eprintln!(
                "hoist: reconciled interrupted submit of {} ({}): {what}",
                job.short_id(),
                job.name
            );
        }
    }
    match cli.command {
        Cmd::Run(args) => run_cmd(&h, *args).await,
        Cmd::Status(a) => {
            let j = h.status(&a.job).await?;
            if a.json {
                println!("{}", output::job_json(&j));
            } else {
                println!("{}", output::jobs_table(&[JobSummary::from(&j)]));
            }
            Ok(0)
        }
        Cmd::Logs(a) => {
            let j = h.resolve(&a.job)?;
            let mut out = std::io::stdout().lock();
            if a.follow {
                let mut s = h.follow_logs(&j, a.tail).await?;
                while let Some(chunk) = s.next().await {
                    if write_chunk(&mut out, &chunk?).is_err() {
                        return Ok(0); // reader went away (| head)
                    }
                }
            } else {
                let _ = write_chunk(&mut out, &h.logs(&j, a.tail).await?);
            }
            Ok(0)
        }
        Cmd::Cancel(a) => {
            let (j, outcome) = h.cancel(&a.job).await?;
            match outcome {
                CancelOutcome::AlreadyFinished => println!(
                    "job {} had already ended: {}{}",
                    j.short_id(),
                    j.status,
                    exit_suffix(&j)
                ),
                CancelOutcome::NotFound => println!(
                    "job {} no longer exists on {}; marked {}",
                    j.short_id(),
                    j.platform,
                    j.status
                ),
                CancelOutcome::Requested => {
                    let j = if j.status.is_terminal() {
                        j
                    } else {
                        h.wait(&j.job_id).await?
                    };
                    println!("job {} {}{}", j.short_id(), j.status, exit_suffix(&j));
                }
            }
            Ok(0)
        }
        Cmd::Wait(a) => {
            let j = h.wait(&a.job).await?;
            eprintln!("job {} {}{}", j.short_id(), j.status, exit_suffix(&j));
            Ok(j.status.cli_exit_code(j.exit_code).unwrap_or(1))
        }
        Cmd::Ls(a) => {
            let status = a
                .status
                .as_deref()
                .map(str::parse::<JobStatus>)
                .transpose()
                .map_err(|e| HoistError::Input(InputError::new(e.to_string(), "")))?;
            let platform = a
                .platform
                .as_deref()
                .map(hoist::canonical_platform)
                .transpose()?
                .map(str::to_string);
            let jobs = h
                .list(&ListFilter {
                    status,
                    platform,
                    limit: a.limit,
                })
                .await?;
            if a.json {
                // Buffered: stdout is line-buffered, and ten thousand jobs are one long line.
                let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
                serde_json::to_writer(&mut out, &jobs)?;
                let _ = writeln!(out);
                let _ = out.flush();
            } else if jobs.is_empty() {
                eprintln!("no jobs yet; start one with: hoist run -- echo hello");
            } else {
                println!("{}", output::jobs_table(&jobs));
            }
            Ok(0)
        }
        Cmd::Show(a) => {
            let j = h.status(&a.job).await?;
            let events = h.store().events(&j.job_id)?;
            let details = h.details(&j).await;
            if a.json {
                let mut v = serde_json::to_value(&j)?;
                if let Some(d) = &details {
                    v["platform_details"] = d.clone();
                }
                v["events"] = events.iter().map(|e| json!({"at": e.at.to_string(), "kind": e.kind, "status": e.status, "message": e.message})).collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let env: Vec<String> = j.spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "{}",
                    output::kv(&[
                        ("id", j.job_id.clone()),
                        ("name", j.name.clone()),
                        (
                            "platform",
                            format!(
                                "{}{}",
                                j.platform,
                                j.profile
                                    .as_ref()
                                    .map(|p| format!(" (profile {p})"))
                                    .unwrap_or_default()
                            )
                        ),
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
                if let Some(reps) = details.as_ref().and_then(|d| d["replicas"].as_array()) {
                    println!("\nreplicas:");
                    for r in reps {
                        println!(
                            "  {:<4} {:<40} {:<10} {:<20} {}",
                            r["rank"].as_str().unwrap_or("-"),
                            r["pod"].as_str().unwrap_or_default(),
                            r["phase"].as_str().unwrap_or_default(),
                            r["node"].as_str().unwrap_or("(unscheduled)"),
                            r["issue"].as_str().unwrap_or_default()
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
            }
            Ok(0)
        }
        Cmd::Why(a) => {
            let j = h.status(&a.job).await?;
            let analysis = h.failure_analysis(&j).await?;
            if a.json {
                let v = match &analysis {
                    Some(fa) => {
                        json!({"job_id": j.job_id, "status": j.status, "exit_code": j.exit_code, "err_class": fa.err_class, "cause": fa.cause, "suggestion": fa.suggestion, "retriable": fa.retriable, "rule": fa.rule, "events": fa.events})
                    }
                    None => {
                        json!({"job_id": j.job_id, "status": j.status, "exit_code": j.exit_code, "err_class": null, "cause": nothing_to_explain(&j), "suggestion": "", "retriable": false, "rule": null, "events": []})
                    }
                };
                println!("{}", serde_json::to_string_pretty(&v)?);
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
        Cmd::Results(a) => {
            let j = h.resolve(&a.job)?;
            let Some(loc) = h.results_dir(&j) else {
                anyhow::bail!(HoistError::Input(InputError::new(
                    format!(
                        "job {} has no results location (it never launched)",
                        j.short_id()
                    ),
                    "hoist show JOB tells what happened"
                )));
            };
            if let Some(dir) = &a.download {
                let n = h.download_results(&j, dir).await?;
                eprintln!("fetched {n} file(s) from {loc} into {}", dir.display());
            }
            if a.json {
                println!("{}", json!({"job_id": j.job_id, "results_location": loc}));
            } else if a.download.is_none() {
                println!("{loc}");
            }
            Ok(0)
        }
        Cmd::RunnerImage(a) => {
            let tag = a
                .tag
                .clone()
                .unwrap_or_else(|| format!("hoist-runner:{}", env!("CARGO_PKG_VERSION")));
            let id = h.build_runner_image(&tag, a.docker_host.clone()).await?;
            eprintln!("built {tag} ({id})");
            println!("{tag}");
            Ok(0)
        }
        Cmd::CheckPath(a) => {
            let platform = a.platform.as_deref().unwrap_or("local");
            let ok = h.check_path(platform, &a.uri).await?;
            if a.json {
                println!("{}", json!({"uri": a.uri, "exists": ok}));
            } else {
                println!("{}", if ok { "exists" } else { "missing" });
            }
            Ok(if ok { 0 } else { 1 })
        }
        Cmd::LsPath(a) => {
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
        Cmd::Preflight(a) => {
            let req = JobRequest {
                platform: a.platform.clone(),
                profile: a.profile.clone(),
                image: a.image.clone(),
                docker_host: a.docker_host.clone(),
                ..JobRequest::new(Command::Argv(vec!["true".into()]))
            };
            let mut paths = Vec::new();
            for p in &a.paths {
                let (n, v) = p.split_once('=').ok_or_else(|| {
                    HoistError::Input(InputError::new(
                        format!("malformed --path {p:?}"),
                        "write --path NAME=PATH",
                    ))
                })?;
                paths.push((n.to_string(), v.to_string()));
            }
            let (platform, checks) = h
                .preflight(
                    &req,
                    &PreflightRequest {
                        image: a.image.clone(),
                        gpu_smoke_image: a.gpu_smoke_image.clone(),
                        paths,
                    },
                )
                .await?;
            let failed = checks.iter().any(|c| c.required && !c.ok);
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"platform": platform, "ok": !failed, "checks": checks})
                    )?
                );
            } else {
                for c in &checks {
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
                println!(
                    "{}",
                    if failed {
                        format!("{platform}: not ready")
                    } else {
                        format!("{platform}: ready")
                    }
                );
            }
            Ok(if failed { 1 } else { 0 })
        }
        Cmd::Rm(a) => {
            let j = h.remove(&a.job, a.force).await?;
            println!("removed {} ({})", j.short_id(), j.name);
            Ok(0)
        }
        Cmd::Reconcile => {
            if settled.is_empty() {
                println!("nothing to reconcile");
            }
            for (j, what) in settled {
                println!("{} {} {what}", j.short_id(), j.name);
            }
            Ok(0)
        }
        Cmd::Completions { .. }
        | Cmd::Supervise { .. }
        | Cmd::Runner { .. }
        | Cmd::Install { .. } => Ok(0),
    }
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

fn exit_suffix(j: &JobRecord) -> String {
    match j.exit_code {
        Some(c) if j.status.is_terminal() => format!(" (exit {c})"),
        _ => String::new(),
    }
}

fn nothing_to_explain(j: &JobRecord) -> String {
    match j.status {
        JobStatus::Complete => "it completed successfully; nothing to explain".into(),
        s => format!("it is {s}; there is no failure to explain yet"),
    }
}

fn write_chunk(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    out.write_all(s.as_bytes())?;
    out.flush()
}

fn input(e: InputError) -> anyhow::Error {
    HoistError::Input(e).into()
}

fn request(h: &Hoist, a: &RunArgs) -> anyhow::Result<JobRequest> {
    let mut req = JobRequest::new(Command::from_cli(a.command.clone()).map_err(input)?);
    req.platform = a.platform.clone();
    req.profile = a.profile.clone();
    req.image = a.image.clone();
    req.name = a.name.clone();
    req.gpus = a
        .gpus
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(input)?;
    req.nodes = a.nodes;
    req.cpus = a.cpus;
    req.memory_bytes = a
        .memory
        .as_deref()
        .map(parse_memory)
        .transpose()
        .map_err(input)?;
    req.shell = a.shell.clone();
    req.docker_host = a.docker_host.clone();
    req.pull = a
        .pull
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(input)?;
    req.mounts = a
        .mounts
        .iter()
        .map(|m| m.parse())
        .collect::<Result<_, _>>()
        .map_err(input)?;
    req.shm_size = a
        .shm_size
        .as_deref()
        .map(parse_memory)
        .transpose()
        .map_err(|e| {
            input(InputError::new(
                e.message.replace("--memory", "--shm-size"),
                e.hint,
            ))
        })?;
    req.user = a.user.clone();
    req.auto_remove = a.rm.then_some(true);
    req.network = a.network.clone();
    req.container = a.container.clone();
    req.workdir = a.workdir.clone();
    for f in &a.env_file {
        let text = std::fs::read_to_string(f).map_err(|e| {
            input(InputError::new(
                format!("cannot read --env-file {}: {e}", f.display()),
                "check the path",
            ))
        })?;
        for (k, v) in parse_env_file(&text, &f.display().to_string()).map_err(input)? {
            req.env.push((k, Some(v)));
        }
    }
    for e in &a.env {
        req.env.push(parse_env_arg(e).map_err(input)?);
    }
    for l in &a.labels {
        let (k, v) = l.split_once('=').ok_or_else(|| {
            input(InputError::new(
                format!("malformed --label {l:?}"),
                "write --label KEY=VALUE",
            ))
        })?;
        req.labels.insert(k.to_string(), v.to_string());
    }
    req.kubernetes.namespace = a.namespace.clone();
    for kv in &a.node_selectors {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            input(InputError::new(
                format!("malformed --node-selector {kv:?}"),
                "write --node-selector KEY=VALUE, e.g. nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3",
            ))
        })?;
        req.kubernetes
            .node_selector
            .insert(k.to_string(), v.to_string());
    }
    req.kubernetes.tolerations = a.tolerations.clone();
    req.kubernetes.image_pull_secret = a.image_pull_secret.clone();
    for i in &a.inputs {
        req.inputs.push(binding("--input", i, true).map_err(input)?);
    }
    for o in &a.outputs {
        req.outputs
            .push(binding("--output", o, false).map_err(input)?);
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
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            input(InputError::new(
                format!("malformed --arg {kv:?}"),
                "write --arg NAME=VALUE, e.g. --arg epochs=3",
            ))
        })?;
        // JSON where it parses (3, true, [1,2]), the text itself otherwise.
        let v = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.into()));
        req.args.insert(k.trim_start_matches('-').to_string(), v);
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

async fn run_cmd(h: &Hoist, a: RunArgs) -> anyhow::Result<i32> {
    let req = request(h, &a)?;
    if a.dry_run {
        println!("{}", h.dry_run(&req).await?);
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
    eprintln!(
        "hoist: job {} ({}) submitted on {}{}",
        job.short_id(),
        job.name,
        job.platform,
        if job.message.is_empty() {
            String::new()
        } else {
            format!(", {}", job.message)
        }
    );
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

/// `KEY=URI` (URI required for inputs), or a bare `KEY` for an output.
fn binding(
    flag: &str,
    text: &str,
    uri_required: bool,
) -> Result<hoist_core::spec::DataBinding, InputError> {
    let (key, uri) = match text.split_once('=') {
        Some((k, u)) => (k, u),
        None if !uri_required => (text, ""),
        None => {
            return Err(InputError::new(
                format!("malformed {flag} {text:?}"),
                format!("write {flag} KEY=URI, e.g. {flag} dataset.train=s3://bucket/train.json"),
            ));
        }
    };
    if key.is_empty() || (uri_required && uri.is_empty()) {
        return Err(InputError::new(
            format!("malformed {flag} {text:?}"),
            format!("write {flag} KEY=URI"),
        ));
    }
    Ok(hoist_core::spec::DataBinding {
        key: key.to_string(),
        uri: uri.to_string(),
    })
}
