//! The SLURM platform against a real SLURM cluster on loopback, reached over ssh as a user
//! would configure it (scripts/testbed.sh: Host hoist-testbed-slurm, user hoistuser).

mod harness;
use harness::slurm::*;
use harness::*;

#[test]
fn run_follows_and_mirrors_the_exit_code() {
    let e = senv();
    let o = e.srun(&[
        "run",
        "--platform",
        "slurm",
        "--name",
        "s1",
        "--",
        "sh",
        "-c",
        "echo hello from $SLURMD_NODENAME; echo to-stderr >&2; exit 3",
    ]);
    assert_eq!(o.code(), 3, "{}", o.stderr());
    assert!(
        o.stdout().contains("hello from node") && o.stdout().contains("to-stderr"),
        "{}",
        o.stdout()
    );
    let s: serde_json::Value =
        serde_json::from_str(&e.srun(&["status", "s1", "--json"]).stdout()).expect("json");
    assert_eq!(
        (s["status"].as_str(), s["exit_code"].as_i64()),
        (Some("Error"), Some(3))
    );
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("FAILED")),
        "{s}"
    );
    let show: serde_json::Value =
        serde_json::from_str(&e.srun(&["show", "s1", "--json"]).stdout()).expect("show");
    assert_eq!(show["backend_identity"], "slurm:ci@hoistuser");
    // A later shell without the SLURM variables goes back to the same login host.
    let later = e.run(&["logs", "s1", "--tail", "1"]);
    assert_eq!(later.code(), 0, "{}", later.stderr());
}

#[test]
fn multi_node_rendezvous_env_and_secrets_stay_in_the_env_file() {
    let e = senv();
    let secret = "hf_slurm_secret_4242";
    let id = e.ssubmit(&["--nodes", "2", "--gpus", "2", "--env", &format!("HF_TOKEN={secret}")], &["sh", "-c", "echo rank=$NODE_RANK ws=$WORLD_SIZE nn=$NNODES gpn=$NUM_GPU_PER_NODE np=$NPROC_PER_NODE master=$MASTER_ADDR port=$MASTER_PORT gpus=$CUDA_VISIBLE_DEVICES tok=${#HF_TOKEN}"]);
    let w = e.srun(&["wait", &id]);
    assert_eq!(w.code(), 0, "{}", w.stderr());
    let mut lines: Vec<String> = e
        .srun(&["logs", &id])
        .stdout()
        .lines()
        .filter(|l| l.starts_with("rank="))
        .map(str::to_string)
        .collect();
    lines.sort();
    let tok = secret.len();
    assert_eq!(
        lines,
        vec![
            format!("rank=0 ws=2 nn=2 gpn=2 np=2 master=node1 port=29500 gpus=0,1 tok={tok}"),
            format!("rank=1 ws=2 nn=2 gpn=2 np=2 master=node1 port=29500 gpus=0,1 tok={tok}"),
        ]
    );
    let dir = format!("hoist/jobs/{id}");
    assert_eq!(remote(&format!("stat -c %a {dir}/env")).trim(), "600");
    assert_eq!(
        remote(&format!(
            "grep -l {secret} {dir}/job.sbatch {dir}/entrypoint.sh; true"
        ))
        .trim(),
        "",
        "only the env file holds the secret"
    );
    for (path, bytes) in all_bytes(&e.home()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "secret in {}",
            path.display()
        );
    }
    let sbatch = remote(&format!("cat {dir}/job.sbatch"));
    for want in [
        "--nodes=2",
        "--gres=gpu:2",
        "--ntasks-per-node=1",
        "--requeue",
        &format!("--comment=hoist:{id}"),
    ] {
        assert!(sbatch.contains(want), "{want} in\n{sbatch}");
    }
}

#[test]
fn cancel_pending_reasons_and_follow_from_another_process() {
    let e = senv();
    // Two jobs that each take the whole cluster: the second waits, and says why.
    let first = e.ssubmit(
        &["--nodes", "2", "--gpus", "2"],
        &["sh", "-c", "echo started; sleep 300"],
    );
    let second = e.ssubmit(&["--nodes", "2", "--gpus", "2"], &["true"]);
    e.wait_status(&first, "Running");
    let mut f = e
        .scmd(&["logs", "-f", &first])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("follow");
    let mut out = f.stdout.take().expect("stdout");
    read_until(&mut out, "started");
    wait_for("a pending reason", || {
        let s: serde_json::Value =
            serde_json::from_str(&e.srun(&["status", &second, "--json"]).stdout())
                .unwrap_or_default();
        s["status"] == "Pending"
            && s["message"]
                .as_str()
                .is_some_and(|m| m.contains('(') && !m.contains("None"))
    });
    let c = e.srun(&["cancel", &first]);
    assert_eq!(c.code(), 0, "{}", c.stderr());
    assert_eq!(e.status(&first), "Canceled");
    assert!(
        f.wait().expect("follow").success(),
        "follow ends when the job does"
    );
    assert!(
        e.srun(&["cancel", &first])
            .stdout()
            .contains("already ended")
    );
    assert_eq!(
        e.srun(&["wait", &second]).code(),
        0,
        "the queued job runs once the first is gone"
    );
    let slurm_id = e.status_json(&first)["backend_job_id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    // sacct catches up with the controller a moment later.
    wait_for("sacct to record the cancel", || {
        remote(&format!("sacct -X -n -P -j {slurm_id} -o State")).starts_with("CANCELLED")
    });
}

#[test]
fn impossible_requests_are_refused_before_queueing() {
    let e = senv();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--gpus", "3"], &[], "node configuration is not available"),
        (
            &[],
            &[("SLURM_PARTITION", "short"), ("SLURM_TIME_HOURS", "1")],
            "MaxTime",
        ),
        (
            &[],
            &[("SLURM_PARTITION", "nosuchpartition")],
            "does not exist",
        ),
        (&["--gpus", "0,1"], &[], "device ids"),
    ];
    for (flags, env, needle) in cases {
        let mut a = vec!["run", "--platform", "slurm"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&["--", "true"]);
        let mut c = e.scmd(&a);
        for (k, v) in *env {
            c.env(k, v);
        }
        let o = Out(c.output().expect("run"));
        assert_eq!(o.code(), 2, "{flags:?} {env:?}: {}", o.stderr());
        assert!(o.stderr().contains(needle), "{needle}: {}", o.stderr());
    }
    assert!(e.ls().is_empty(), "refused requests leave no row");
}

#[test]
fn kill_9_during_a_slurm_submit_is_reconciled() {
    let e = senv();
    for (point, name, outcome) in [
        ("after-submit", "sadopt", "adopted"),
        ("after-insert", "sfence", "abandoned"),
    ] {
        crash_at(
            e.scmd(&[
                "run",
                "-d",
                "--platform",
                "slurm",
                "--name",
                name,
                "--",
                "echo",
                "ran",
            ]),
            point,
        );
        let r = e.srun(&["reconcile"]);
        assert!(
            r.stdout().contains(&format!("{name} {outcome}")),
            "{}: {}",
            r.stdout(),
            r.stderr()
        );
    }
    assert_eq!(e.srun(&["wait", "sadopt"]).code(), 0);
    assert!(e.srun(&["logs", "sadopt"]).stdout().contains("ran"));
    assert_eq!(e.status("sfence"), "Error");
    assert_eq!(e.ls().len(), 2, "no duplicate");
}

#[test]
fn failover_to_the_next_login_host_and_preflight() {
    let e = senv();
    let o = e
        .scmd(&["run", "--platform", "slurm", "--", "echo", "failed-over"])
        .env("SLURM_HOSTNAME", format!("127.0.0.1:1,{LOGIN}"))
        .output()
        .expect("run");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("failed-over"));
    let p = e.srun(&[
        "preflight",
        "--platform",
        "slurm",
        "--path",
        "home=/home/hoistuser",
        "--path",
        "gone=lustre:///no/such/place",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&p.stdout()).expect("json");
    assert_eq!(p.code(), 1, "{v}");
    let check = |n: &str| {
        v["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == n).cloned())
            .unwrap_or_else(|| panic!("{n}: {v}"))
    };
    assert_eq!(check("ssh")["ok"], true);
    assert_eq!(check("slurm tools")["ok"], true);
    assert_eq!(check("partition")["ok"], true);
    assert_eq!(check("path home")["ok"], true);
    assert_eq!(check("path gone")["ok"], false);
    assert_eq!(check("gpu gres")["ok"], true, "{v}");
    assert!(
        check("containers")["detail"]
            .as_str()
            .is_some_and(|d| d.contains("charliecloud")),
        "{v}"
    );
    let local = e.srun(&[
        "preflight",
        "--platform",
        "slurm",
        "--path",
        "mine=file:///etc/hostname",
        "--json",
    ]);
    assert!(
        local.stdout().contains("not a path on the cluster"),
        "{}",
        local.stdout()
    );
    let both = e
        .scmd(&["preflight", "--platform", "slurm", "--json"])
        .env("SLURM_HOSTNAME", format!("127.0.0.1:1,{LOGIN}"))
        .output()
        .expect("preflight");
    let v: serde_json::Value = serde_json::from_slice(&both.stdout).expect("json");
    let login = |n: &str| {
        v["checks"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|c| c["name"] == format!("login {n}"))
                    .cloned()
            })
            .unwrap_or_else(|| panic!("login {n}: {v}"))
    };
    assert_eq!(
        (
            login("hoistuser@127.0.0.1:1")["ok"].as_bool(),
            login(&format!("hoistuser@{LOGIN}"))["ok"].as_bool()
        ),
        (Some(false), Some(true)),
        "{v}"
    );
    let down = e
        .scmd(&["preflight", "--platform", "slurm", "--json"])
        .env("SLURM_HOSTNAME", "127.0.0.1:1")
        .output()
        .expect("run");
    assert_eq!(down.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&down.stdout).contains("BatchMode"),
        "{}",
        String::from_utf8_lossy(&down.stdout)
    );
}

#[test]
fn infrastructure_failures_run_again_on_the_cluster_and_program_failures_do_not() {
    let e = senv();
    // First run: an NCCL failure (infrastructure). The job script sees it and requeues itself.
    let flaky = e.ssubmit(&["--name", "flaky"], &["sh", "-c", "if [ \"${SLURM_RESTART_COUNT:-0}\" -eq 0 ]; then echo 'misc/socket.cc:50 NCCL WARN Net : Connect to node2 failed' >&2; exit 1; fi; echo recovered"]);
    let w = e.srun(&["wait", &flaky]);
    assert_eq!(w.code(), 0, "{}\n{}", w.stderr(), e.evidence(&flaky));
    assert!(
        e.srun(&["logs", &flaky]).stdout().contains("recovered"),
        "{}",
        e.evidence(&flaky)
    );
    let show: serde_json::Value =
        serde_json::from_str(&e.srun(&["show", &flaky, "--json"]).stdout()).expect("show");
    assert_eq!(show["retry_count"], 1, "{show}");
    assert!(
        show["retry_history"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("requeued")),
        "{show}"
    );
    // A program failure surfaces at once.
    let bug = e.ssubmit(
        &["--name", "bug"],
        &[
            "sh",
            "-c",
            "echo 'ZeroDivisionError: division by zero' >&2; exit 1",
        ],
    );
    assert_eq!(e.srun(&["wait", &bug]).code(), 1);
    let show: serde_json::Value =
        serde_json::from_str(&e.srun(&["show", &bug, "--json"]).stdout()).expect("show");
    assert_eq!(show["retry_count"], 0);
}

#[test]
fn shell_injection_corpus_stays_data() {
    let e = senv();
    let canary = format!("/tmp/hoist-pwned-{}", std::process::id());
    let hostile = [
        format!("$(touch {canary})"),
        format!("`touch {canary}`"),
        format!("'; touch {canary}; '"),
        format!("\"; touch {canary}; \""),
        format!("a\ntouch {canary}"),
        format!("$((1)) && touch {canary}"),
        "HOIST_B64".to_string(),
    ];
    // Every hostile string as an argv word, an env value and a label, all submitted at once.
    let ids: Vec<(String, &String)> = hostile
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let env_arg = format!("HOSTILE={h}");
            let label = format!("x={}", h.replace(['\n', '=', ' '], "_"));
            let name = format!("inj{i}");
            let id = e.ssubmit(
                &[
                    "--name",
                    &name,
                    "--env",
                    &env_arg,
                    "--label",
                    &label,
                    "--workdir",
                    "/tmp",
                ],
                &[
                    "sh",
                    "-c",
                    "printf '%s|%s|%s\\n' \"$1\" \"$HOSTILE\" done",
                    "sh",
                    h,
                ],
            );
            (id, h)
        })
        .collect();
    for (id, h) in &ids {
        assert_eq!(e.srun(&["wait", id]).code(), 0, "{h:?}");
        let out = e.srun(&["logs", id]).stdout();
        assert!(
            out.contains(&format!("{h}|{h}|done")),
            "{h:?} arrived changed: {out}"
        );
    }
    assert!(
        remote(&format!("ls {canary} 2>/dev/null"))
            .trim()
            .is_empty(),
        "nothing ran on the cluster"
    );
    assert!(!std::path::Path::new(&canary).exists(), "nothing ran here");
    let bad_dir = e
        .scmd(&["run", "--platform", "slurm", "--", "true"])
        .env("SLURM_BASE_RESULTS_DIR", format!("/tmp/x$(touch {canary})"))
        .output()
        .expect("run");
    let _ = bad_dir;
    assert!(
        !std::path::Path::new(&canary).exists(),
        "a hostile base directory is a path, not a command"
    );
    let _ = remote(&format!("rm -rf '/tmp/x$(touch {canary})'"));
}

#[test]
fn a_node_failure_is_run_again_then_completes() {
    let e = senv_alone();
    let conf = "/var/lib/hoist-testbed/slurm/etc/slurm.conf";
    let admin = |args: &[&str]| {
        std::process::Command::new("scontrol")
            .env("SLURM_CONF", conf)
            .args(args)
            .output()
            .expect("scontrol (root, on the testbed)")
    };
    // Without SLURM's own requeue, so hoist's resubmission is what recovers the job.
    let o = e
        .scmd(&[
            "run",
            "-d",
            "--platform",
            "slurm",
            "--name",
            "nodefail",
            "--",
            "sh",
            "-c",
            "echo attempt on $SLURMD_NODENAME; sleep 600",
        ])
        .env("SLURM_USE_REQUEUE", "0")
        .output()
        .expect("submit");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    e.wait_status(&id, "Running");
    let first = e.status_json(&id)["backend_job_id"]
        .as_str()
        .expect("slurm id")
        .to_string();
    let node = String::from_utf8_lossy(
        &std::process::Command::new("squeue")
            .env("SLURM_CONF", conf)
            .args(["-h", "-j", &first, "-o", "%N"])
            .output()
            .expect("squeue")
            .stdout,
    )
    .trim()
    .to_string();
    assert!(node.starts_with("node"), "{node}");
    // The node dies: its slurmd and the job's step daemon are killed, and the node is marked
    // down as a health check would (rather than waiting out SlurmdTimeout).
    let pid = String::from_utf8_lossy(
        &std::process::Command::new("pgrep")
            .args(["-f", &format!("slurmd -f {conf} -N {node}$")])
            .output()
            .expect("pgrep")
            .stdout,
    )
    .trim()
    .to_string();
    let cmdline: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
        .expect("slurmd cmdline")
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status();
    let _ = std::process::Command::new("pkill")
        .args(["-9", "-f", &format!("slurmstepd: \\[{first}")])
        .status();
    assert!(
        admin(&[
            "update",
            &format!("nodename={node}"),
            "state=down",
            "reason=hoist-test-node-failure"
        ])
        .status
        .success()
    );
    // The next hoist call that looks at the job sees NODE_FAIL and runs it again.
    wait_for("the job to be resubmitted", || {
        e.status_json(&id)["retry_count"] == 1
    });
    let show: serde_json::Value =
        serde_json::from_str(&e.srun(&["show", &id, "--json"]).stdout()).expect("show");
    assert!(
        show["retry_history"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("NODE_FAIL")),
        "{show}"
    );
    assert_eq!(show["retry_history"][0]["backend_job_id"], first.as_str());
    assert_ne!(show["backend_job_id"], first.as_str(), "a new SLURM job");
    // Bring the node back for everyone else.
    let restarted = std::process::Command::new(&cmdline[0])
        .args(&cmdline[1..])
        .status()
        .expect("restart slurmd");
    assert!(restarted.success());
    let _ = admin(&["update", &format!("nodename={node}"), "state=resume"]);
    wait_for("the retried job to run", || e.status(&id) == "Running");
    // Running comes from the scheduler; the script's first line reaches the log a moment later.
    wait_for("the retried job's output", || {
        e.srun(&["logs", &id]).stdout().contains("attempt on node")
    });
    assert_eq!(e.srun(&["cancel", &id]).code(), 0);
    wait_for("both nodes idle again", || {
        let o = std::process::Command::new("sinfo")
            .env("SLURM_CONF", conf)
            .args(["-h", "-N", "-o", "%T"])
            .output()
            .expect("sinfo");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .all(|l| matches!(l.trim(), "idle" | "mixed" | "allocated"))
    });
}

#[test]
fn a_failure_in_status_json_beats_a_clean_exit() {
    let e = senv();
    let o = e.srun(&["run", "--platform", "slurm", "--name", "verdict", "--", "sh", "-c", "d=$TAO_RESULTS_ROOT/$TAO_JOB_ID; mkdir -p $d; echo '{\"status\":\"STARTED\"}' > $d/status.json; echo '{\"status\":\"FAILURE\",\"message\":\"loss diverged\"}' >> $d/status.json"]);
    assert_eq!(o.code(), 1, "{}", o.stderr());
    let s = e.status_json("verdict");
    assert_eq!(
        (s["status"].as_str(), s["message"].as_str()),
        (Some("Error"), Some("status.json: loss diverged")),
        "{s}"
    );
}
