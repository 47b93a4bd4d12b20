//! The in-job runner: fetch inputs, write the spec, run the command, upload outputs — the
//! TAO script runner's contract without Python. It speaks on stderr, each line starting
//! `hoist-runner:`, which is also what failure analysis reads.

use crate::{EnvSource, StagingError};
use hoist_core::spec::{EntryMode, SpecFormat};
use hoist_core::staging::{
    ResultsKind, RunnerPlan, Scheme, archive_of, args_words, exit, final_argv, key_dir_name,
    local_path, remote_values, set_at,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Prefix of every line the runner prints.
pub const PREFIX: &str = "hoist-runner:";

fn say(msg: &str) {
    eprintln!("{PREFIX} {msg}");
}

fn fail(code: i32, what: &str, e: &StagingError) -> i32 {
    say(&format!("{what}: {e}"));
    if let Some(h) = e.hint() {
        say(&format!("hint: {h}"));
    }
    code
}

/// Where the runner keeps what is not a result (downloaded inputs): `$HOIST_SCRATCH`, else
/// `$TMPDIR`, else `/tmp`, then `hoist-<job_id>`.
fn scratch_dir(plan: &RunnerPlan, env: &dyn EnvSource) -> PathBuf {
    let base = env
        .get("HOIST_SCRATCH")
        .or_else(|| env.get("TMPDIR"))
        .unwrap_or_else(|| "/tmp".into());
    Path::new(&base).join(format!("hoist-{}", plan.job_id))
}

/// One queued upload.
struct Upload {
    src: PathBuf,
    uri: String,
}

/// Run the plan; returns the exit code the job should end with: the command's, or the
/// runner's own (sysexits codes in [`exit`]) when it failed around the command.
pub async fn run(plan: &RunnerPlan, env: &dyn EnvSource) -> i32 {
    let kind = ResultsKind::from_env(|k| env.get(k));
    let mut results = PathBuf::from(kind.local_dir(&plan.job_id));
    if let Err(e) = std::fs::create_dir_all(&results) {
        if matches!(kind, ResultsKind::Mount(_)) {
            return fail(
                exit::CONFIG,
                "cannot create the results directory",
                &StagingError::io(results.display().to_string(), e),
            );
        }
        // /results is not writable here (a non-root user): keep results in scratch.
        results = scratch_dir(plan, env).join("results");
        if let Err(e) = std::fs::create_dir_all(&results) {
            return fail(
                exit::CONFIG,
                "cannot create a results directory",
                &StagingError::io(results.display().to_string(), e),
            );
        }
    }
    let scratch = scratch_dir(plan, env);
    match &kind {
        ResultsKind::Ephemeral => say(&format!(
            "WARNING: neither TAO_RESULTS_ROOT nor S3_BUCKET_NAME is set; results stay in {} and are lost with the job",
            results.display()
        )),
        k => say(&format!("results → {}", k.location(&plan.job_id))),
    }

    let mut spec = plan.spec.clone();
    let mut args = plan.args.clone();
    if let Err(code) = fetch_inputs(plan, env, &scratch, &mut spec, &mut args).await {
        return code;
    }
    let uploads = match route_outputs(plan, &kind, &results, &scratch, &mut spec, &mut args) {
        Ok(u) => u,
        Err(e) => return fail(exit::CONFIG, "cannot route the outputs", &e),
    };
    let config_path = match (&spec, plan.mode) {
        (Some(s), _) => match write_spec(s, plan.spec_format, &results) {
            Ok(p) => Some(p),
            Err(e) => return fail(exit::CONFIG, "cannot write the spec", &e),
        },
        (None, EntryMode::Config) => {
            return fail(
                exit::CONFIG,
                "config mode needs a spec",
                &StagingError::Input(hoist_core::InputError::new(
                    "no spec was given",
                    "pass --spec FILE (YAML, TOML or JSON)",
                )),
            );
        }
        _ => None,
    };
    let argv = final_argv(
        &plan.command,
        plan.shell.as_deref(),
        config_path
            .as_deref()
            .map(|p| p.to_str().unwrap_or_default()),
        &args_words(&args),
    );
    let code = run_command(&argv).await;

    // Outputs go up whatever the command's fate: a failed run's logs and checkpoints are
    // what a user needs most. In a multi-node job only node 0 uploads.
    let mut upload_failed = false;
    let rank = env.get("NODE_RANK").unwrap_or_else(|| "0".into());
    let uploads = if rank == "0" {
        uploads
    } else {
        if !uploads.is_empty() {
            say(&format!("node rank {rank}: outputs are uploaded by node 0"));
        }
        Vec::new()
    };
    for u in &uploads {
        if !u.src.exists() {
            say(&format!(
                "output {} was not created; nothing to upload",
                u.src.display()
            ));
            continue;
        }
        match crate::upload(&u.src, &u.uri, &plan.upload_excludes, env).await {
            Ok(n) => say(&format!(
                "uploaded {n} file(s) from {} to {}",
                u.src.display(),
                u.uri
            )),
            Err(e) => {
                upload_failed = true;
                fail(
                    exit::UPLOAD,
                    &format!("upload failed: {} → {}", u.src.display(), u.uri),
                    &e,
                );
            }
        }
    }
    // Downloaded inputs are copies: drop them. Outputs that could not be sent stay.
    let _ = std::fs::remove_dir_all(scratch.join("inputs"));
    if !upload_failed {
        let _ = std::fs::remove_dir_all(scratch.join("outputs"));
    } else {
        say(&format!(
            "outputs that were not uploaded remain under {}",
            scratch.join("outputs").display()
        ));
    }
    let _ = std::fs::remove_dir(&scratch);
    if matches!(kind, ResultsKind::Ephemeral) {
        say(&format!(
            "WARNING: results were written to {} inside the job and are NOT saved anywhere; set TAO_RESULTS_ROOT (a mount) or S3_BUCKET_NAME to keep them",
            results.display()
        ));
    }
    if upload_failed && code == 0 {
        return exit::UPLOAD;
    }
    code
}

/// Download remote inputs and point the spec / args / container paths at them.
async fn fetch_inputs(
    plan: &RunnerPlan,
    env: &dyn EnvSource,
    scratch: &Path,
    spec: &mut Option<Value>,
    args: &mut std::collections::BTreeMap<String, Value>,
) -> Result<(), i32> {
    let mut inputs: Vec<(String, String)> = plan
        .inputs
        .iter()
        .map(|b| (b.key.clone(), b.uri.clone()))
        .collect();
    let output_keys: Vec<&str> = plan.outputs.iter().map(|b| b.key.as_str()).collect();
    match plan.mode {
        EntryMode::Config => {
            if let Some(s) = spec.as_ref() {
                for (k, u) in remote_values(s) {
                    if !inputs.iter().any(|(ik, _)| *ik == k) && !output_keys.contains(&k.as_str())
                    {
                        inputs.push((k, u));
                    }
                }
            }
        }
        EntryMode::Args => {
            for (k, v) in args.iter() {
                if let Some(u) = v.as_str()
                    && Scheme::of(u).is_remote()
                    && !inputs.iter().any(|(ik, _)| ik == k)
                    && !output_keys.contains(&k.as_str())
                {
                    inputs.push((k.clone(), u.to_string()));
                }
            }
        }
        EntryMode::Passthrough => {}
    }
    for (key, uri) in inputs {
        let path = match fetch_one(plan.mode, &key, &uri, env, scratch).await {
            Ok(p) => p,
            Err(e) => return Err(fail(exit::INPUT, &format!("input {key} ({uri})"), &e)),
        };
        let shown = path.display().to_string();
        say(&format!("input {key} ← {uri} at {shown}"));
        let value = Value::String(shown);
        match plan.mode {
            EntryMode::Config => {
                let s = spec.get_or_insert_with(|| Value::Object(Default::default()));
                if let Err(e) = set_at(s, &key, value) {
                    return Err(fail(exit::CONFIG, "cannot rewrite the spec", &e.into()));
                }
            }
            EntryMode::Args => {
                args.insert(key, value);
            }
            EntryMode::Passthrough => {}
        }
    }
    Ok(())
}

/// One input to where the command will read it; returns that path.
async fn fetch_one(
    mode: EntryMode,
    key: &str,
    uri: &str,
    env: &dyn EnvSource,
    scratch: &Path,
) -> Result<PathBuf, StagingError> {
    hoist_core::spec::validate_uri(uri)?;
    if let Some(p) = local_path(uri) {
        // Data already on a path the job can open: nothing moves, except that passthrough
        // mode promises it at the container path the user named.
        if !Path::new(p).exists() {
            return Err(StagingError::NotFound {
                uri: uri.into(),
                hint: "the path must exist where the job runs (a shared file system or a mount)"
                    .into(),
            });
        }
        if mode == EntryMode::Passthrough && Path::new(key) != Path::new(p) {
            let dest = Path::new(key);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StagingError::io(format!("creating {}", parent.display()), e))?;
            }
            // The nodes of a multi-node job share a working directory on some platforms
            // (SLURM): the first node's link is the one every node wants.
            let already = std::fs::read_link(dest).is_ok_and(|t| t == Path::new(p));
            if !already {
                std::os::unix::fs::symlink(p, dest).or_else(|e| {
                    match std::fs::read_link(dest) {
                        Ok(t) if t == Path::new(p) => Ok(()),
                        _ => Err(StagingError::io(format!("linking {key} to {p}"), e)),
                    }
                })?;
            }
            return Ok(dest.to_path_buf());
        }
        return Ok(PathBuf::from(p));
    }
    let base = uri
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("data");
    let base = base.split(['@', ':']).next().unwrap_or(base).to_string();
    let dest = if mode == EntryMode::Passthrough {
        PathBuf::from(key)
    } else {
        scratch.join("inputs").join(key_dir_name(key)).join(&base)
    };
    let got = crate::download(uri, &dest, env).await?;
    if mode != EntryMode::Passthrough
        && matches!(Scheme::of(uri), Scheme::Ngc | Scheme::HfModel)
        && got.is_dir()
        && let Some((abs, _)) = crate::walk(&got, &[])?
            .into_iter()
            .find(|(_, rel)| hoist_core::staging::is_weights_file(rel))
    {
        return Ok(abs);
    }
    if got.is_file()
        && let Some((kind, _)) = archive_of(&base)
    {
        let into = got.with_file_name(format!("{base}.d"));
        return crate::archive::extract(&got, kind, &into);
    }
    Ok(got)
}

/// Decide each output's local directory (put into the spec/args) and what is uploaded
/// where at the end.
fn route_outputs(
    plan: &RunnerPlan,
    kind: &ResultsKind,
    results: &Path,
    scratch: &Path,
    spec: &mut Option<Value>,
    args: &mut std::collections::BTreeMap<String, Value>,
) -> Result<Vec<Upload>, StagingError> {
    let mut uploads = Vec::new();
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p)
            .map_err(|e| StagingError::io(format!("creating {}", p.display()), e))
    };
    for b in &plan.outputs {
        if plan.mode == EntryMode::Passthrough {
            let src = PathBuf::from(&b.key);
            let name = key_dir_name(
                src.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .as_deref()
                    .unwrap_or("output"),
            );
            if !b.uri.is_empty() {
                uploads.push(Upload {
                    src,
                    uri: b.uri.clone(),
                });
            } else if let ResultsKind::S3(_) = kind {
                uploads.push(Upload {
                    src,
                    uri: format!("{}{name}", kind.location(&plan.job_id)),
                });
            } else if !src.starts_with(results) {
                uploads.push(Upload {
                    src,
                    uri: results.join(name).display().to_string(),
                });
            }
            continue;
        }
        let current = match plan.mode {
            EntryMode::Config => spec.as_ref().and_then(|s| {
                hoist_core::spec::parse_key_path(&b.key)
                    .ok()
                    .and_then(|steps| hoist_core::staging::get_at(s, &steps).cloned())
            }),
            _ => args.get(&b.key).cloned(),
        };
        let current = current
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let target = if b.uri.is_empty() {
            current
        } else {
            b.uri.clone()
        };
        let dir = if Scheme::of(&target).is_remote() {
            let d = scratch.join("outputs").join(key_dir_name(&b.key));
            uploads.push(Upload {
                src: d.clone(),
                uri: target,
            });
            d
        } else if let Some(p) = local_path(&target).filter(|p| p.starts_with('/')) {
            PathBuf::from(p)
        } else {
            results.join(key_dir_name(&b.key))
        };
        mkdir(&dir)?;
        let v = Value::String(dir.display().to_string());
        match plan.mode {
            EntryMode::Config => {
                let s = spec.get_or_insert_with(|| Value::Object(Default::default()));
                set_at(s, &b.key, v)?;
            }
            _ => {
                args.insert(b.key.clone(), v);
            }
        }
    }
    if let ResultsKind::S3(_) = kind {
        uploads.push(Upload {
            src: results.to_path_buf(),
            uri: kind.location(&plan.job_id),
        });
    }
    Ok(uploads)
}

/// Serialize the spec into the results directory; returns its path.
pub fn write_spec(spec: &Value, fmt: SpecFormat, dir: &Path) -> Result<PathBuf, StagingError> {
    let text = render_spec(spec, fmt)?;
    let path = dir.join(format!("spec.{}", fmt.extension()));
    std::fs::write(&path, text)
        .map_err(|e| StagingError::io(format!("writing {}", path.display()), e))?;
    Ok(path)
}

/// The spec as text in `fmt`. TOML has no null: a null value is named and refused.
pub fn render_spec(spec: &Value, fmt: SpecFormat) -> Result<String, StagingError> {
    let bad = |why: String, hint: &str| StagingError::Input(hoist_core::InputError::new(why, hint));
    match fmt {
        SpecFormat::Json => serde_json::to_string_pretty(spec).map_err(|e| {
            bad(
                format!("the spec cannot be written as JSON: {e}"),
                "check the spec",
            )
        }),
        // Plain scalars: a folded `>-` block is valid YAML but surprises people reading paths.
        SpecFormat::Yaml => serde_saphyr::to_string_with_options(
            spec,
            serde_saphyr::ser_options! { prefer_block_scalars: false },
        )
        .map_err(|e| {
            bad(
                format!("the spec cannot be written as YAML: {e}"),
                "check the spec",
            )
        }),
        SpecFormat::Toml => {
            if let Some(k) = find_null(spec, "") {
                return Err(bad(
                    format!("the spec has a null at {k}, which TOML cannot hold"),
                    "give it a value, remove it, or write the spec as yaml or json",
                ));
            }
            toml::to_string(spec).map_err(|e| {
                bad(
                    format!("the spec cannot be written as TOML: {e}"),
                    "TOML needs a map at the top and no mixed-type lists; or write it as yaml",
                )
            })
        }
    }
}

fn find_null(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::Null => Some(if path.is_empty() {
            "the top".into()
        } else {
            path.into()
        }),
        Value::Object(m) => m.iter().find_map(|(k, c)| {
            find_null(
                c,
                &if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                },
            )
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, c)| find_null(c, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Run the command with the runner's stdio; forward SIGTERM/SIGINT/SIGHUP to it so a
/// cancel reaches the program, and keep going to the uploads after it ends.
async fn run_command(argv: &[String]) -> i32 {
    let Some((prog, rest)) = argv.split_first() else {
        say("no command to run");
        return exit::CONFIG;
    };
    let mut child = match tokio::process::Command::new(prog)
        .args(rest)
        .env_remove(hoist_core::staging::RUNNER_PLAN_ENV)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            say(&format!("cannot start {prog}: {e}"));
            return if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                exit::EXEC
            };
        }
    };
    let pid = child.id().map(|p| p as i32);
    use tokio::signal::unix::{SignalKind, signal};
    let forward = |sig: i32| {
        if let Some(pid) = pid {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe { libc::kill(pid, sig) };
        }
    };
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        return finish(child.wait().await);
    };
    let status = loop {
        tokio::select! {
            st = child.wait() => break st,
            _ = term.recv() => forward(libc::SIGTERM),
            _ = int.recv() => forward(libc::SIGINT),
            _ = hup.recv() => forward(libc::SIGHUP),
        }
    };
    finish(status)
}

fn finish(status: std::io::Result<std::process::ExitStatus>) -> i32 {
    match status {
        Ok(st) => {
            use std::os::unix::process::ExitStatusExt;
            st.code()
                .or_else(|| st.signal().map(|s| 128 + s))
                .unwrap_or(1)
        }
        Err(e) => {
            say(&format!("lost track of the command: {e}"));
            exit::EXEC
        }
    }
}

/// Read a spec's text in `fmt` into the nested map hoist carries.
pub fn parse_spec(text: &str, fmt: SpecFormat, name: &str) -> Result<Value, StagingError> {
    let bad = |e: String| {
        StagingError::Input(hoist_core::InputError::new(
            format!("cannot read the spec {name} as {}: {e}", fmt.extension()),
            "check its syntax, or name the format with --spec-format",
        ))
    };
    match fmt {
        SpecFormat::Json => serde_json::from_str(text).map_err(|e| bad(e.to_string())),
        SpecFormat::Yaml => serde_saphyr::from_str(text).map_err(|e| bad(e.to_string())),
        SpecFormat::Toml => toml::from_str(text).map_err(|e| bad(e.to_string())),
    }
}
