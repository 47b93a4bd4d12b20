//! The CLI contract against the real binary and the local platform.

mod harness;
use harness::*;
use std::io::Read;

#[test]
fn run_follows_output_and_mirrors_exit_code() {
    let e = Env::new();
    let o = e.run(&["run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(o.code(), 3, "{}", o.stderr());
    assert!(
        o.stdout().contains("out\n") && o.stdout().contains("err\n"),
        "{}",
        o.stdout()
    );
    assert!(o.stderr().contains("Error (exit 3)"), "{}", o.stderr());
    let ok = e.run(&["run", "--", "echo", "hello", "world"]);
    assert_eq!((ok.code(), ok.stdout().as_str()), (0, "hello world\n"));
    let jobs = e.ls();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["status"], "Complete", "newest first");
    assert_eq!(jobs[1]["status"], "Error");
    assert_eq!(jobs[1]["exit_code"], 3);
}

#[test]
fn run_json_prints_one_object() {
    let e = Env::new();
    let o = e.run(&["run", "-d", "--json", "--name", "j1", "--", "true"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let v: serde_json::Value = serde_json::from_str(o.stdout().trim()).expect("one json object");
    assert_eq!(v["platform"], "local");
    assert_eq!(v["name"], "j1");
    assert!(v["job_id"].as_str().is_some_and(|s| s.len() == 36));
    assert!(v["status"].is_string());
    let f = e.run(&["run", "--json", "--", "sh", "-c", "echo to-stderr"]);
    let v: serde_json::Value = serde_json::from_str(f.stdout().trim()).expect("json after follow");
    assert_eq!(v["status"], "Complete");
    assert!(f.stderr().contains("to-stderr"));
}

#[test]
fn detached_job_status_logs_wait() {
    let e = Env::new();
    let go = e.path("go");
    let script = format!(
        "echo one; echo two; while [ ! -e {} ]; do sleep 0.02; done; echo three",
        go.display()
    );
    let id = e.submit(&["--", "sh", "-c", &script]);
    assert_eq!(id.len(), 36);
    e.wait_status(&id[..8], "Running");
    wait_for("first lines", || {
        e.run(&["logs", &id]).stdout() == "one\ntwo\n"
    });
    assert_eq!(e.run(&["logs", &id, "--tail", "1"]).stdout(), "two\n");
    std::fs::write(&go, "").expect("go");
    let w = e.run(&["wait", &id[..6]]);
    assert_eq!(w.code(), 0, "{}", w.stderr());
    let s = e.status_json(&id);
    for k in [
        "job_id",
        "name",
        "platform",
        "status",
        "message",
        "exit_code",
        "created_at",
        "updated_at",
    ] {
        assert!(s.get(k).is_some(), "status --json lacks {k}");
    }
    assert_eq!(
        (s["status"].as_str(), s["exit_code"].as_i64()),
        (Some("Complete"), Some(0))
    );
    assert_eq!(e.run(&["logs", &id]).stdout(), "one\ntwo\nthree\n");
    let fail = e.submit(&["--", "sh", "-c", "exit 7"]);
    assert_eq!(e.run(&["wait", &fail]).code(), 7);
}

#[test]
fn follow_streams_until_the_job_ends_and_reattaches_from_another_process() {
    let e = Env::new();
    let go = e.path("go");
    let script = format!(
        "echo begin; while [ ! -e {} ]; do sleep 0.02; done; echo end",
        go.display()
    );
    // Process A submits and follows.
    let a = e.spawn(&["run", "--name", "streamer", "--", "sh", "-c", &script]);
    wait_for("job to run", || {
        e.ls().first().is_some_and(|j| j["status"] == "Running")
    });
    // Process B re-attaches by name.
    let mut b = e.spawn(&["logs", "-f", "streamer"]);
    let mut b_out = b.stdout.take().expect("stdout");
    let mut seen = read_until(&mut b_out, "begin\n").into_bytes();
    assert_eq!(e.status("streamer"), "Running");
    std::fs::write(&go, "").expect("go");
    b_out.read_to_end(&mut seen).expect("rest");
    assert_eq!(String::from_utf8_lossy(&seen), "begin\nend\n");
    assert!(b.wait().expect("b").success());
    let a_out = a.wait_with_output().expect("a");
    assert_eq!(a_out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&a_out.stdout), "begin\nend\n");
}

#[test]
fn cancel_is_idempotent_and_keeps_natural_results() {
    let e = Env::new();
    let id = e.submit(&["--", "sleep", "600"]);
    e.wait_status(&id, "Running");
    let state = read_json(&e.job_dir(&id).join("state.json"));
    let pid = state["child"]["pid"].as_i64().expect("pid") as i32;
    assert!(pid_alive(pid));
    let c = e.run(&["cancel", &id]);
    assert_eq!(c.code(), 0, "{}", c.stderr());
    assert!(c.stdout().contains("Canceled"), "{}", c.stdout());
    assert_eq!(e.status(&id), "Canceled");
    wait_for("the process to be gone", || !pid_alive(pid));
    assert_eq!(e.run(&["wait", &id]).code(), 130);
    let again = e.run(&["cancel", &id]);
    assert_eq!(again.code(), 0);
    assert!(
        again.stdout().contains("already ended"),
        "{}",
        again.stdout()
    );
    assert_eq!(e.status(&id), "Canceled");

    let done = e.submit(&["--", "true"]);
    e.run(&["wait", &done]);
    let c = e.run(&["cancel", &done]);
    assert!(
        c.stdout().contains("already ended: Complete"),
        "{}",
        c.stdout()
    );
    assert_eq!(e.status(&done), "Complete");
}

#[test]
fn cancel_escalates_to_sigkill_after_the_grace_period() {
    let e = Env::new();
    std::fs::create_dir_all(e.home()).expect("home");
    std::fs::write(
        e.home().join("config.toml"),
        "[profiles.quick]\nplatform = \"local\"\ngrace_seconds = 1\n",
    )
    .expect("config");
    let id = e.submit(&[
        "--profile",
        "quick",
        "--",
        "sh",
        "-c",
        "trap '' TERM; echo ready; while :; do sleep 0.05; done",
    ]);
    wait_for("trap installed", || {
        e.run(&["logs", &id]).stdout().contains("ready")
    });
    let c = e.run(&["cancel", &id]);
    assert_eq!(c.code(), 0, "{}", c.stderr());
    let s = e.status_json(&id);
    assert_eq!(s["status"], "Canceled");
    assert_eq!(
        s["exit_code"], 137,
        "SIGTERM was ignored, so SIGKILL ended it"
    );
}

#[test]
fn job_outlives_the_cli_that_started_it() {
    let e = Env::new();
    let go = e.path("go");
    let script = format!(
        "echo started; while [ ! -e {} ]; do sleep 0.02; done; echo finished",
        go.display()
    );
    let mut cli = e.spawn(&["run", "--name", "survivor", "--", "sh", "-c", &script]);
    wait_for("job to start", || {
        e.ls().first().is_some_and(|j| j["status"] == "Running")
    });
    cli.kill().expect("kill -9 the CLI");
    let _ = cli.wait();
    std::fs::write(&go, "").expect("go");
    let w = e.run(&["wait", "survivor"]);
    assert_eq!(w.code(), 0, "{}", w.stderr());
    assert_eq!(e.run(&["logs", "survivor"]).stdout(), "started\nfinished\n");
}

#[test]
fn interrupt_detaches_without_canceling() {
    let e = Env::new();
    let go = e.path("go");
    let script = format!("while [ ! -e {} ]; do sleep 0.02; done", go.display());
    let cli = e.spawn(&["run", "--name", "detachme", "--", "sh", "-c", &script]);
    wait_for("job to run", || {
        e.ls().first().is_some_and(|j| j["status"] == "Running")
    });
    // SAFETY: kill(2) on a child we own.
    unsafe { libc::kill(cli.id() as i32, libc::SIGINT) };
    let out = cli.wait_with_output().expect("cli");
    assert_eq!(out.status.code(), Some(130));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keeps running"));
    assert_eq!(e.status("detachme"), "Running");
    std::fs::write(&go, "").expect("go");
    assert_eq!(e.run(&["wait", "detachme"]).code(), 0);
}

#[test]
fn job_environment_and_secrets() {
    let e = Env::new();
    let secret = "hf_s3cr3t_value_9f8e7d";
    let o = e
        .cmd(&[
            "run",
            "--name",
            "envjob",
            "--env",
            "MODE=fast",
            "--env",
            &format!("HF_TOKEN={secret}"),
            "--env",
            "FROM_SHELL",
            "--",
            "sh",
            "-c",
            "echo $TAO_JOB_ID $HOIST_JOB_ID $MODE $FROM_SHELL ${#HF_TOKEN}",
        ])
        .env("FROM_SHELL", "inherited")
        .output()
        .expect("run");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let id = e.ls()[0]["job_id"].as_str().expect("id").to_string();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{id} {id} fast inherited {}\n", secret.len())
    );
    let show = e.run(&["show", "envjob", "--json"]);
    assert!(
        show.stdout().contains("MODE") && !show.stdout().contains(secret),
        "{}",
        show.stdout()
    );
    assert!(!e.run(&["show", "envjob"]).stdout().contains(secret));
    for (path, bytes) in all_bytes(&e.home()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "secret found in {}",
            path.display()
        );
    }
    let dry = e.run(&[
        "run",
        "--dry-run",
        "--env",
        &format!("API_TOKEN={secret}"),
        "--",
        "true",
    ]);
    assert_eq!(dry.code(), 0, "{}", dry.stderr());
    assert!(
        !dry.stdout().contains(secret) && dry.stdout().contains("<secret>"),
        "{}",
        dry.stdout()
    );
    let missing = e
        .cmd(&["run", "--env", "NOT_SET_ANYWHERE", "--", "true"])
        .env_remove("NOT_SET_ANYWHERE")
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn dry_run_submits_nothing() {
    let e = Env::new();
    let o = e.run(&[
        "run",
        "--dry-run",
        "--cpus",
        "1",
        "--memory",
        "256m",
        "--env",
        "A=1",
        "--",
        "python",
        "train.py",
        "--lr",
        "0.1",
    ]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let v: serde_json::Value = serde_json::from_str(&o.stdout()).expect("json");
    assert_eq!(
        v["argv"],
        serde_json::json!(["python", "train.py", "--lr", "0.1"])
    );
    assert_eq!(v["env"]["A"], "1");
    assert_eq!(v["memory_bytes"], 256 << 20);
    assert!(e.ls().is_empty());
    assert!(!e.home().join("jobs").exists());
}

#[test]
fn why_classifies_failures() {
    let e = Env::new();
    let cases: &[(&str, &str, &str)] = &[
        (
            "echo \"ModuleNotFoundError: No module named 'timm'\"; exit 1",
            "ERR_CONFIG",
            "log:module_not_found",
        ),
        (
            "echo 'RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1191, unhandled system error'; exit 1",
            "ERR_INFRA",
            "log:nccl",
        ),
        ("kill -SEGV $$", "ERR_PROGRAM", "signal:11"),
        ("no_such_command_xyz", "ERR_CONFIG", "log:command_not_found"),
        ("exit 4", "ERR_PROGRAM", "exit:nonzero"),
    ];
    for (script, class, rule) in cases {
        let id = e.submit(&["--", script]);
        e.run(&["wait", &id]);
        let w = e.run(&["why", &id, "--json"]);
        assert_eq!(w.code(), 0, "{}", w.stderr());
        let v: serde_json::Value = serde_json::from_str(&w.stdout()).expect("json");
        assert_eq!(
            (v["err_class"].as_str(), v["rule"].as_str()),
            (Some(*class), Some(*rule)),
            "{script}: {v}"
        );
        assert!(v["cause"].as_str().is_some_and(|c| !c.is_empty()));
        assert!(v["suggestion"].as_str().is_some_and(|c| !c.is_empty()));
        assert!(v["events"].as_array().is_some_and(|a| !a.is_empty()));
    }
    let ok = e.submit(&["--", "true"]);
    e.run(&["wait", &ok]);
    let v: serde_json::Value =
        serde_json::from_str(&e.run(&["why", &ok, "--json"]).stdout()).expect("json");
    assert!(v["err_class"].is_null());
}

#[test]
fn memory_limit_is_enforced_and_explained() {
    let e = Env::new();
    let o = e.run(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "64m",
        "--",
        "python3",
        "-c",
        "x = bytearray(512 * 1024 * 1024)",
    ]);
    assert_ne!(
        o.code(),
        0,
        "allocating 512 MiB under a 64 MiB limit must fail: {}",
        o.stdout()
    );
    let v: serde_json::Value =
        serde_json::from_str(&e.run(&["why", "hog", "--json"]).stdout()).expect("json");
    assert_eq!(v["rule"], "log:host_oom", "{v}");
    let fine = e.run(&[
        "run",
        "--memory",
        "256m",
        "--",
        "python3",
        "-c",
        "x = bytearray(16 * 1024 * 1024)",
    ]);
    assert_eq!(fine.code(), 0, "{}", fine.stderr());
}

#[test]
fn gpus_choose_least_used_and_need_nvidia_smi() {
    let e = Env::new();
    let smi = e.path("nvidia-smi");
    std::fs::write(
        &smi,
        "#!/bin/sh\nprintf '0, 30000, 90\\n1, 5, 0\\n2, 40000, 10\\n3, 5, 3\\n'\n",
    )
    .expect("smi");
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&smi).expect("meta").permissions(),
        0o755,
    );
    std::fs::set_permissions(&smi, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let smi_s = smi.display().to_string();
    let run = |gpus: &str| {
        let o = e
            .cmd(&[
                "run",
                "--gpus",
                gpus,
                "--",
                "sh",
                "-c",
                "echo $CUDA_VISIBLE_DEVICES",
            ])
            .env("HOIST_NVIDIA_SMI", &smi_s)
            .output()
            .expect("run");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(run("2").1, "1,3");
    assert_eq!(run("all").1, "0,1,2,3");
    assert_eq!(run("2,0").1, "2,0");
    let (code, _, err) = run("5");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("5 GPUs were asked for"), "{err}");
    let before = e.ls().len();
    let o = e
        .cmd(&["run", "--gpus", "1", "--", "true"])
        .env("HOIST_NVIDIA_SMI", e.path("absent").display().to_string())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("was not found"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(e.ls().len(), before, "a refused submit leaves no row");
}

#[test]
fn bad_input_is_one_line_exit_2_and_writes_nothing() {
    let e = Env::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--platform", "mainframe", "--", "true"],
            "mainframe",
        ),
        (&["run", "--profile", "ghost", "--", "true"], "ghost"),
        (&["run", "--env", "1BAD=x", "--", "true"], "1BAD"),
        (&["run", "--gpus", "lots", "--", "true"], "lots"),
        (&["run", "--memory", "huge", "--", "true"], "huge"),
        (&["run", "--nodes", "2", "--", "true"], "--nodes 2"),
        (
            &[
                "run",
                "--platform",
                "local",
                "--image",
                "busybox",
                "--",
                "true",
            ],
            "--image",
        ),
        (&["run", "--"], "no command"),
        (&["run", "--name", "bad name!", "--", "true"], "bad name!"),
        (&["status", "nonexistent"], "nonexistent"),
        (&["logs", "nonexistent"], "nonexistent"),
        (&["ls", "--status", "Done"], "Done"),
    ];
    for (args, needle) in cases {
        let o = e.run(args);
        assert_eq!(o.code(), 2, "{args:?}: {}", o.stderr());
        let first = o.stderr().lines().next().unwrap_or_default().to_string();
        assert!(
            first.starts_with("error: ") && first.contains(needle),
            "{args:?}: {}",
            o.stderr()
        );
        assert!(
            o.stderr().lines().count() <= 2,
            "one line plus a hint: {}",
            o.stderr()
        );
    }
    assert!(e.ls().is_empty(), "nothing written");
}

#[test]
fn preflight_reports_and_fails_on_missing_paths() {
    let e = Env::new();
    let o = e.run(&["preflight", "--platform", "local"]);
    assert_eq!(o.code(), 0, "{}", o.stdout());
    assert!(o.stdout().contains("local: ready"));
    let o = e.run(&[
        "preflight",
        "--path",
        &format!("data={}", e.path("nope").display()),
        "--json",
    ]);
    assert_eq!(o.code(), 1);
    let v: serde_json::Value = serde_json::from_str(&o.stdout()).expect("json");
    assert_eq!(v["ok"], false);
    let bad = v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "path data").cloned())
        .expect("path check");
    assert_eq!(bad["ok"], false);
    assert!(bad["remedy"].as_str().is_some_and(|r| !r.is_empty()));
}

#[test]
fn completions_and_results() {
    let e = Env::new();
    let o = e.run(&["completions", "bash"]);
    assert_eq!(o.code(), 0);
    assert!(o.stdout().contains("hoist"));
    let id = e.submit(&["--", "sh", "-c", "echo data > $HOIST_RESULTS_DIR/out.txt"]);
    e.run(&["wait", &id]);
    let r = e.run(&["results", &id]);
    assert_eq!(r.code(), 0);
    let dir = std::path::PathBuf::from(r.stdout().trim());
    assert!(dir.ends_with(&id));
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).expect("out"),
        "data\n"
    );
}
