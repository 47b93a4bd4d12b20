//! The lepton platform end to end against a recorded-response server on loopback
//! (crates/hoist-lepton/tests/fake-lepton/server.py, in the API's JSON shapes; CI checks those
//! shapes with the official leptonai client). What hoist sent is read back from the server's
//! request log.

mod harness;
#[path = "harness/lepton.rs"]
mod lepton_world;
use harness::*;
use lepton_world::*;
use serde_json::{Value, json};
use std::process::Stdio;
#[test]
fn a_job_goes_through_its_states_with_secrets_by_reference() {
    let l = Lepton::new(json!({}));
    let o = Out(l
        .command(&[
            "run",
            "-d",
            "--platform",
            "lepton",
            "--image",
            IMG,
            "--gpus",
            "1",
            "--name",
            "Train_Run",
            "--env",
            "HF_TOKEN",
            "--env",
            "FOO=bar",
            "--",
            "python",
            "train.py",
        ])
        .env("HF_TOKEN", "hf_secret_value_123")
        .env("NGC_KEY", "ngc_secret_value_456")
        .output()
        .expect("hoist"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let id = o.stdout().trim().to_string();
    let body = l.created_body();
    let short = &id[..8];
    assert_eq!(body["metadata"]["id"], format!("train-run-{short}"));
    assert_eq!(body["metadata"]["visibility"], "private");
    assert_eq!(body["spec"]["resource_shape"], "gpu.1xh100-sxm");
    assert_eq!(
        body["spec"]["container"]["command"],
        json!(["/bin/sh", "-c", "python train.py"])
    );
    assert_eq!(body["spec"]["ttl_seconds_after_finished"], 259200);
    assert_eq!(body["spec"]["log"]["enable_collection"], true);
    // NGC_KEY is the nvcr.io login: user $oauthtoken, so the name is the same for everyone.
    assert_eq!(
        body["spec"]["image_pull_secrets"],
        json!(["hoist-nvcr-io-17aaf001"])
    );
    let envs = body["spec"]["envs"].as_array().expect("envs");
    assert!(
        envs.contains(&json!({"name": "FOO", "value": "bar"})),
        "{envs:?}"
    );
    let secret = format!("hoist-{short}-hf-token");
    assert!(
        envs.contains(&json!({"name": "HF_TOKEN", "value_from": {"secret_name_ref": secret}})),
        "{envs:?}"
    );
    let made = l.requests_to("POST", "/usersecrets");
    assert_eq!(made.len(), 1);
    assert_eq!(l.requests_to("POST", "/imagepullsecrets").len(), 1);
    // The id the server answered with (suffixed) is the job's.
    let backend = l.backend_id(&id);
    assert!(
        backend.starts_with(&format!("train-run-{short}-")),
        "{backend}"
    );
    l.wait_status(&id, "Running");
    l.admin(
        &format!("/jobs/{backend}/logs"),
        json!({"lines": ["epoch 1/2", "epoch 2/2"]}),
    );
    let done = l.wait_status(&id, "Complete");
    assert_eq!(done["exit_code"], 0);
    let logs = l.hoist(&["logs", &id]);
    assert_eq!(logs.stdout(), "epoch 1/2\nepoch 2/2\n");
    // The token and the secret values are in nothing hoist wrote or sent in the clear.
    for r in l.requests() {
        assert_eq!(r["auth"], "ok", "{r}");
        assert!(
            r["origin"].is_null(),
            "no origin header off the gateway: {r}"
        );
        let t = r.to_string();
        assert!(
            !t.contains("hf_secret_value_123") && !t.contains(TOKEN),
            "{t}"
        );
    }
    for (p, b) in all_bytes(&l.home()) {
        let t = String::from_utf8_lossy(&b);
        assert!(
            !t.contains("hf_secret_value_123")
                && !t.contains("ngc_secret_value_456")
                && !t.contains(TOKEN),
            "a secret in {}",
            p.display()
        );
    }
}

#[test]
fn status_is_one_listing_and_reads_every_state() {
    let l = Lepton::new(json!({"script": [["Running", 0]]}));
    let multi = l.submit(&["--gpus", "8", "--nodes", "2"], &["true"]);
    let ok = l.submit(&[], &["true"]);
    let bad = l.submit(&[], &["true"]);
    let gone = l.submit(&[], &["true"]);
    let stopped = l.submit(&[], &["true"]);
    let (m, o, b, g, s) = (
        l.backend_id(&multi),
        l.backend_id(&ok),
        l.backend_id(&bad),
        l.backend_id(&gone),
        l.backend_id(&stopped),
    );
    l.admin(
        &format!("/jobs/{m}"),
        json!({"state": "Running", "ready": 1, "active": 2}),
    );
    l.admin(
        &format!("/jobs/{o}"),
        json!({"state": "Archived", "succeeded": 1, "failed": 0}),
    );
    l.admin(
        &format!("/jobs/{b}"),
        json!({"state": "Archived", "succeeded": 0, "failed": 1}),
    );
    l.admin(&format!("/jobs/{s}"), json!({"state": "Stopped"}));
    let del = Out(std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='DELETE', headers={'authorization': 'Bearer ' + sys.argv[2]})).read()",
            &format!("{}/jobs/{g}", l.url()),
            TOKEN,
        ])
        .output()
        .expect("python3"));
    assert_eq!(del.code(), 0, "{}", del.stderr());
    let before = l.requests().len();
    let o2 = l.hoist(&["ls", "--json"]);
    assert_eq!(o2.code(), 0, "{}", o2.stderr());
    let jobs: Vec<Value> = serde_json::from_str(&o2.stdout()).expect("ls");
    let of = |id: &str| {
        jobs.iter()
            .find(|j| j["job_id"] == id)
            .cloned()
            .expect("listed")
    };
    assert_eq!(of(&multi)["status"], "Running");
    assert!(
        of(&multi)["message"]
            .as_str()
            .unwrap_or("")
            .contains("1/2 workers ready"),
        "{}",
        of(&multi)
    );
    assert_eq!(of(&ok)["status"], "Complete");
    assert_eq!(of(&bad)["status"], "Error");
    assert_eq!(of(&stopped)["status"], "Paused");
    assert_eq!(of(&gone)["status"], "Unknown");
    assert!(
        of(&gone)["message"]
            .as_str()
            .unwrap_or("")
            .contains("deleted"),
        "{}",
        of(&gone)
    );
    // One listing; single GETs only for what it lacks (two archived, one deleted).
    let calls: Vec<Value> = l.requests()[before..].to_vec();
    let lists = calls
        .iter()
        .filter(|r| {
            r["method"] == "GET" && r["path"].as_str().is_some_and(|p| p.ends_with("/jobs"))
        })
        .count();
    let singles = calls
        .iter()
        .filter(|r| {
            r["method"] == "GET"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.contains("/jobs/") && !p.contains("/events"))
        })
        .count();
    assert_eq!((lists, singles), (1, 3), "{calls:#?}");
}

#[test]
fn logs_page_back_wait_out_429_and_follow() {
    let l = Lepton::new(json!({"script": [["Running", 0]], "log_page_cap": 3, "throttle_logs": 1}));
    let id = l.submit(&["--nodes", "2", "--gpus", "1"], &["true"]);
    let b = l.backend_id(&id);
    let lines: Vec<String> = (1..=7).map(|i| format!("line {i}")).collect();
    l.admin(
        &format!("/jobs/{b}/logs"),
        json!({"replica": 0, "lines": lines}),
    );
    l.admin(
        &format!("/jobs/{b}/logs"),
        json!({"replica": 1, "lines": ["other worker"]}),
    );
    let o = l.hoist(&["logs", &id]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let want: String = lines
        .iter()
        .map(|s| format!("[0] {s}\n"))
        .collect::<String>()
        + "[1] other worker\n";
    assert_eq!(o.stdout(), want);
    let pages = l.requests_to("GET", "/logs");
    assert!(pages.len() >= 4, "paged: {pages:#?}");
    let tail = l.hoist(&["logs", &id, "--tail", "2"]);
    assert_eq!(tail.stdout(), "[0] line 7\n[1] other worker\n");

    // -f: what is there, what comes, and an end when the job ends.
    let mut child = l
        .command(&["logs", "-f", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hoist logs -f");
    let mut out = child.stdout.take().expect("stdout");
    read_until(&mut out, "[1] other worker");
    l.admin(
        &format!("/jobs/{b}/logs"),
        json!({"replica": 1, "lines": ["late line"]}),
    );
    read_until(&mut out, "[1] late line");
    l.admin(
        &format!("/jobs/{b}"),
        json!({"state": "Completed", "succeeded": 2}),
    );
    let status = child.wait().expect("wait");
    assert!(status.success(), "logs -f ended with {status}");
}

#[test]
fn cancel_patches_and_rm_deletes_the_job_and_its_secrets() {
    let l = Lepton::new(json!({"script": [["Running", 0]]}));
    let o = Out(l
        .command(&[
            "run",
            "-d",
            "--platform",
            "lepton",
            "--image",
            IMG,
            "--env",
            "WANDB_API_KEY",
            "--",
            "sleep",
            "1000",
        ])
        .env("WANDB_API_KEY", "wandb-secret-789")
        .output()
        .expect("hoist"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let id = o.stdout().trim().to_string();
    let b = l.backend_id(&id);
    let c = l.hoist(&["cancel", &id]);
    assert_eq!(c.code(), 0, "{}", c.stderr());
    let patches = l.requests_to("PATCH", &format!("/jobs/{b}"));
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0]["body"], json!({"spec": {"stopped": true}}));
    l.wait_status(&id, "Canceled");
    assert_eq!(l.hoist(&["cancel", &id]).code(), 0, "idempotent");
    assert_eq!(l.requests_to("PATCH", &format!("/jobs/{b}")).len(), 1);
    let rm = l.hoist(&["rm", &id]);
    assert_eq!(rm.code(), 0, "{}", rm.stderr());
    let deleted = l.requests_to("DELETE", &format!("/jobs/{b}"));
    assert_eq!(deleted.len(), 1);
    let secret = format!("hoist-{}-wandb-api-key", &id[..8]);
    assert_eq!(
        l.requests_to("DELETE", &format!("/usersecrets/{secret}"))
            .len(),
        1
    );
}

#[test]
fn several_workers_get_the_rendezvous_env_without_a_download() {
    let l = Lepton::new(json!({}));
    l.submit(
        &["--gpus", "8", "--nodes", "2", "--node-group", "my-h100s", "--mount", "lepton-shared-fs:/shared/me:/mnt/shared"],
        &["sh", "-c", "echo rank=$NODE_RANK master=$MASTER_ADDR world=$WORLD_SIZE nnodes=$NNODES gpus=$NUM_GPU_PER_NODE port=$MASTER_PORT; printf '%s|' \"$HOIST_NODE_IPS\""],
    );
    let body = l.created_body();
    let spec = &body["spec"];
    assert_eq!(spec["resource_shape"], "gpu.8xh100-sxm");
    assert_eq!(
        (spec["completions"].clone(), spec["parallelism"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(spec["intra_job_communication"], true);
    assert_eq!(
        spec["affinity"],
        json!({"allowed_dedicated_node_groups": ["ng-abc123"]})
    );
    assert_eq!(
        spec["mounts"],
        json!([{"path": "/shared/me", "from": "node-nfs:lepton-shared-fs", "mount_path": "/mnt/shared"}])
    );
    // Run the job's command as worker 1 would: Lepton's env plus the body's.
    let cmd: Vec<String> =
        serde_json::from_value(spec["container"]["command"].clone()).expect("cmd");
    assert!(!cmd.join(" ").contains("wget") && !cmd.join(" ").contains("curl"));
    let mut run = std::process::Command::new(&cmd[0]);
    run.args(&cmd[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LEPTON_JOB_WORKER_INDEX", "1")
        .env("LEPTON_JOB_WORKER_PREFIX", "worker")
        .env("LEPTON_SUBDOMAIN", "job-svc");
    for e in spec["envs"].as_array().expect("envs") {
        if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
            run.env(k, v);
        }
    }
    let out = run.output().expect("sh");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "rank=1 master=worker-0.job-svc world=2 nnodes=2 gpus=8 port=29500\nworker-0.job-svc\nworker-1.job-svc|"
    );
    let envs = spec["envs"].to_string();
    assert!(
        envs.contains("TAO_RESULTS_ROOT") && envs.contains("/mnt/shared/results"),
        "{envs}"
    );
}

#[test]
fn shapes_node_groups_and_bad_input() {
    let l = Lepton::new(json!({}));
    let o = l.hoist(&[
        "run",
        "-d",
        "--platform",
        "lepton",
        "--image",
        IMG,
        "--gpus",
        "3",
        "--",
        "true",
    ]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert_eq!(l.created_body()["spec"]["resource_shape"], "gpu.8xh100-sxm");
    let dry = l.hoist(&[
        "run",
        "--dry-run",
        "--json",
        "--platform",
        "lepton",
        "--image",
        IMG,
        "--gpus",
        "3",
        "--",
        "true",
    ]);
    assert_eq!(dry.code(), 0, "{}", dry.stderr());
    let v: Value = serde_json::from_str(&dry.stdout()).expect("dry-run json");
    assert!(
        v["placement"]
            .as_str()
            .unwrap_or("")
            .contains("no shape has exactly 3"),
        "{v}"
    );
    assert_eq!(v["create"]["spec"]["resource_shape"], "gpu.8xh100-sxm");
    // A GPU model picks among its own shapes, then by count, whatever the case.
    let dry = l.hoist(&[
        "run",
        "--dry-run",
        "--json",
        "--platform",
        "lepton",
        "--image",
        IMG,
        "--gpus",
        "h100:2",
        "--",
        "true",
    ]);
    assert_eq!(dry.code(), 0, "{}", dry.stderr());
    let v: Value = serde_json::from_str(&dry.stdout()).expect("dry-run json");
    assert_eq!(v["create"]["spec"]["resource_shape"], "gpu.2xh100-sxm");
    let posts = l.requests_to("POST", "/jobs").len();
    let cases: &[(&[&str], &str)] = &[
        (&["--gpus", "16"], "gpu.8xh100-sxm"),
        (&["--resource-shape", "gpu.nope"], "gpu.1xh100-sxm"),
        (&["--node-group", "nope"], "my-h100s"),
        (&["--mount", "fs:rel:/x"], "absolute"),
        (&["--gpus", "0,1"], "--gpus N"),
        // A GPU model no shape has: the models there are, with their counts.
        (&["--gpus", "A100:1"], "NVIDIA-H100-SXM (1, 2, 8 GPUs)"),
        (&["--gpus", "H10:1"], "no resource shape with H10 GPUs"),
        (
            &["--gpus", "A100:8", "--resource-shape", "gpu.8xh100-sxm"],
            "the job asks for A100",
        ),
    ];
    for (extra, want) in cases {
        let mut a = vec!["run", "--platform", "lepton", "--image", IMG];
        a.extend_from_slice(extra);
        a.extend(["--", "true"]);
        let o = l.hoist(&a);
        assert_eq!(o.code(), 2, "{extra:?}: {}", o.stderr());
        assert!(o.stderr().contains(want), "{extra:?}: {}", o.stderr());
    }
    assert_eq!(
        l.requests_to("POST", "/jobs").len(),
        posts,
        "nothing created"
    );
    assert_eq!(l.ls().len(), 1, "nothing stored");
    let o = Out(l
        .command(&["run", "--platform", "lepton", "--image", IMG, "--", "true"])
        .env_remove("LEPTON_WORKSPACE_ID")
        .output()
        .expect("hoist"));
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr().contains("LEPTON_WORKSPACE_ID") && o.stderr().contains("LEPTON_WORKSPACE_TOKEN")
    );
}

#[test]
fn bad_tokens_are_one_line_with_the_fix_and_preflight_says_so() {
    let l = Lepton::new(json!({"forbidden_tokens": ["other-env-token"]}));
    let pre = l.hoist(&[
        "preflight",
        "--platform",
        "lepton",
        "--node-group",
        "my-h100s",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&pre.stdout()).unwrap_or(Value::Null);
    let names: Vec<&str> = v["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ok"] == true)
        .filter_map(|c| c["name"].as_str())
        .collect();
    for n in ["workspace", "node group", "shapes"] {
        assert!(names.contains(&n), "{n}: {v}\n{}", pre.stderr());
    }
    for (token, code, words) in [
        ("wrong", "401", "LEPTON_WORKSPACE_TOKEN"),
        ("other-env-token", "403", "not for this workspace"),
    ] {
        let o = Out(l
            .command(&["run", "--platform", "lepton", "--image", IMG, "--", "true"])
            .env("LEPTON_WORKSPACE_TOKEN", token)
            .output()
            .expect("hoist"));
        assert_ne!(o.code(), 0);
        let err = o.stderr();
        assert!(err.contains(code) && err.contains(words), "{err}");
        assert!(
            !err.contains(token) || token == "wrong",
            "the token is not echoed: {err}"
        );
        let pre = Out(l
            .command(&["preflight", "--platform", "lepton"])
            .env("LEPTON_WORKSPACE_TOKEN", token)
            .output()
            .expect("hoist"));
        assert!(pre.stdout().contains(code), "{}", pre.stdout());
    }
}

#[test]
fn why_reads_leptons_events_and_a_pending_job_says_why_it_waits() {
    let l = Lepton::new(json!({"script": [["Queueing", 0]]}));
    let id = l.submit(&["--gpus", "8"], &["python", "train.py"]);
    let b = l.backend_id(&id);
    l.admin(
        &format!("/jobs/{b}/events"),
        json!({"events": [{"type": "Warning", "reason": "FailedScheduling", "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.", "count": 3, "last_observed_time": "2026-07-01T00:00:05Z"}]}),
    );
    let st = l.status(&id);
    assert_eq!(st["status"], "Pending");
    assert!(
        st["message"]
            .as_str()
            .unwrap_or("")
            .contains("Insufficient nvidia.com/gpu"),
        "{st}"
    );
    l.admin(
        &format!("/jobs/{b}/events"),
        json!({"events": [{"type": "Warning", "reason": "OOMKilled", "message": "container job was OOM killed", "count": 1, "last_observed_time": "2026-07-01T00:10:00Z"}]}),
    );
    l.admin(
        &format!("/jobs/{b}/logs"),
        json!({"lines": ["loading batch 1", "Killed"]}),
    );
    l.admin(
        &format!("/jobs/{b}"),
        json!({"state": "Failed", "failed": 1}),
    );
    l.wait_status(&id, "Error");
    let why = l.hoist(&["why", &id, "--json"]);
    assert_eq!(why.code(), 0, "{}", why.stderr());
    let v: Value = serde_json::from_str(&why.stdout()).expect("why json");
    assert!(v.to_string().contains("OOMKilled"), "{v}");
    assert!(
        v["cause"].as_str().unwrap_or("").contains("out of memory"),
        "{v}"
    );
}

/// Opt-in: a real workspace (`HOIST_LEPTON_E2E=1` with LEPTON_WORKSPACE_ID and
/// LEPTON_WORKSPACE_TOKEN; `HOIST_LEPTON_E2E_NODE_GROUP` when the workspace needs one). Runs a
/// CPU job (`--resource-shape cpu.small` unless `HOIST_LEPTON_E2E_SHAPE`) and removes it.
#[test]
fn live_lepton_end_to_end() {
    if std::env::var("HOIST_LEPTON_E2E").is_err() {
        eprintln!(
            "live_lepton_end_to_end: not run (set HOIST_LEPTON_E2E=1 with LEPTON_WORKSPACE_ID and LEPTON_WORKSPACE_TOKEN to run it)"
        );
        return;
    }
    let e = Env::new();
    let shape = std::env::var("HOIST_LEPTON_E2E_SHAPE").unwrap_or_else(|_| "cpu.small".into());
    let mut a = vec![
        "run",
        "--platform",
        "lepton",
        "--resource-shape",
        shape.as_str(),
        "--image",
        "busybox:1.36",
    ];
    let ng = std::env::var("HOIST_LEPTON_E2E_NODE_GROUP").ok();
    if let Some(g) = &ng {
        a.extend(["--node-group", g.as_str()]);
    }
    a.extend(["--", "echo", "hello-from-lepton"]);
    let o = e.run(&a);
    assert_eq!(o.code(), 0, "{}\n{}", o.stdout(), o.stderr());
    let jobs = e.ls();
    let id = jobs[0]["job_id"].as_str().expect("id");
    assert!(e.run(&["logs", id]).stdout().contains("hello-from-lepton"));
    assert_eq!(e.run(&["rm", id]).code(), 0);
}
