//! The lepton platform end to end against a recorded-response server on loopback
//! (crates/hoist-lepton/tests/fake-lepton/server.py, in the API's JSON shapes; CI checks those
//! shapes with the official leptonai client). What hoist sent is read back from the server's
//! request log.

mod harness;
use harness::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};

const TOKEN: &str = "lepton-test-token";
const IMG: &str = "nvcr.io/nvidia/pytorch:25.08-py3";

/// One test's workspace: the server (killed on drop) and hoist's store.
struct Lepton {
    env: Env,
    server: Child,
    port: u16,
}

impl Drop for Lepton {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl std::ops::Deref for Lepton {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.env
    }
}

fn server_py() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hoist-lepton/tests/fake-lepton/server.py")
}

impl World for Lepton {
    fn hoist_cmd(&self, args: &[&str]) -> std::process::Command {
        self.command(args)
    }
}

impl Lepton {
    fn new(setup: Value) -> Lepton {
        let env = Env::new();
        let state = env.path("lepton-state");
        std::fs::create_dir_all(&state).expect("state dir");
        std::fs::write(state.join("setup.json"), setup.to_string()).expect("setup");
        let mut server = std::process::Command::new("python3")
            .arg(server_py())
            .args(["--port", "0", "--state"])
            .arg(&state)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 (scripts/testbed.sh installs it)");
        let mut line = String::new();
        BufReader::new(server.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("server's first line");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the fake Lepton server said {line:?}"));
        Lepton { env, server, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v2/workspaces/ws1", self.port)
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.env.cmd(args);
        c.env("LEPTON_WORKSPACE_ID", "ws1")
            .env("LEPTON_WORKSPACE_TOKEN", TOKEN)
            .env("LEPTON_WORKSPACE_URL", self.url())
            .env_remove("LEPTON_AUTH_TOKEN")
            .env_remove("LEPTON_NODE_GROUP")
            .env_remove("S3_BUCKET_NAME");
        // Only the registry login a test gives counts.
        for v in ["NGC_KEY", "NGC_API_KEY"] {
            c.env_remove(v);
        }
        for (plain, sky) in hoist::core::registry::LOGIN_VARS {
            c.env_remove(plain).env_remove(sky);
        }
        c
    }

    /// The workspace's `state.json` (what the stand-in keeps: hashes, never values).
    fn state(&self) -> Value {
        read_json(&self.env.path("lepton-state").join("state.json"))
    }

    fn submit(&self, extra: &[&str], cmd: &[&str]) -> String {
        let mut a = vec!["run", "-d", "--platform", "lepton", "--image", IMG];
        a.extend_from_slice(extra);
        a.push("--");
        a.extend_from_slice(cmd);
        let o = self.hoist(&a);
        assert_eq!(o.code(), 0, "submit: {}", o.stderr());
        o.stdout().trim().to_string()
    }

    /// Every request the server got, oldest first.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.env.path("lepton-state").join("requests.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn requests_to(&self, method: &str, path_suffix: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r["method"] == method
                    && r["path"].as_str().is_some_and(|p| p.ends_with(path_suffix))
            })
            .collect()
    }

    /// POST to the server's admin routes (a test playing the workspace).
    fn admin(&self, path: &str, body: Value) {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, urllib.request; r = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method='POST', headers={'content-type': 'application/json'}); urllib.request.urlopen(r).read()",
                &format!("http://127.0.0.1:{}/__admin{path}", self.port),
                &body.to_string(),
            ])
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "admin {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn backend_id(&self, id: &str) -> String {
        self.status(id)["backend_job_id"]
            .as_str()
            .expect("backend id")
            .to_string()
    }

    fn created_body(&self) -> Value {
        self.requests_to("POST", "/jobs")
            .last()
            .map(|r| r["body"].clone())
            .expect("a POST /jobs")
    }
}

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
fn a_registry_login_in_the_environment_becomes_the_jobs_pull_secret() {
    const PRIVATE: &str = "127.0.0.1:5000/team/train:1";
    const PASSWORD: &str = "reg-secret-pw-789";
    // hoist-<server>-<first 8 hex of sha256("ci-user")>
    const NAME: &str = "hoist-127-0-0-1-5000-72af0f10";
    let l = Lepton::new(json!({}));
    let run = |extra: &[&str], password: &str| {
        let mut a = vec!["run", "--platform", "lepton", "--image", PRIVATE];
        a.extend_from_slice(extra);
        a.extend(["--", "true"]);
        Out(l
            .command(&a)
            .env("SKYPILOT_DOCKER_USERNAME", "ci-user")
            .env("SKYPILOT_DOCKER_PASSWORD", password)
            .env("SKYPILOT_DOCKER_SERVER", "127.0.0.1:5000")
            .output()
            .expect("hoist"))
    };
    let mut outputs = Vec::new();

    // The dry run names the secret and makes nothing.
    let dry = run(&["--dry-run", "--json"], PASSWORD);
    assert_eq!(dry.code(), 0, "{}", dry.stderr());
    let v: Value = serde_json::from_str(&dry.stdout()).expect("dry-run json");
    assert_eq!(v["create"]["spec"]["image_pull_secrets"], json!([NAME]));
    assert_eq!(
        v["image_pull_secret"]["registry_server"],
        "https://127.0.0.1:5000"
    );
    assert_eq!(v["image_pull_secret"]["username"], "ci-user");
    assert!(l.requests_to("POST", "/imagepullsecrets").is_empty());
    outputs.push(dry);

    let sub = run(&["-d"], PASSWORD);
    assert_eq!(sub.code(), 0, "{}", sub.stderr());
    assert_eq!(
        l.created_body()["spec"]["image_pull_secrets"],
        json!([NAME])
    );
    let made = l.requests_to("POST", "/imagepullsecrets");
    assert_eq!(made.len(), 1);
    assert_eq!(
        made[0]["body"],
        json!({"metadata": {"name": NAME, "id": NAME}, "spec": {"registry_server": "https://127.0.0.1:5000", "username": "ci-user", "password": "<redacted>"}})
    );
    // The password itself reached the workspace (the stand-in keeps its sha256).
    assert_eq!(
        l.state()["image_pull_secrets"][NAME]["password_sha256"],
        "501d85723a91144344c502bed4fe1f756fa8a99c0d82b21e9ca53d9554bc901b"
    );
    outputs.push(sub);
    // A second job of the same login uses the secret there is.
    let again = run(&["-d"], PASSWORD);
    assert_eq!(again.code(), 0, "{}", again.stderr());
    assert_eq!(l.requests_to("POST", "/imagepullsecrets").len(), 1);
    assert!(l.requests_to("DELETE", "/imagepullsecrets/").is_empty());
    outputs.push(again);

    // A $(cmd) password runs only at submit, and its fresh output replaces the secret.
    let marker = l.path("password-command-ran");
    let cmd = format!("$(touch {}; printf cmd-pw-321)", marker.display());
    let dry = run(&["--dry-run"], &cmd);
    assert_eq!(dry.code(), 0, "{}", dry.stderr());
    assert!(!marker.exists(), "a dry run ran the password command");
    outputs.push(dry);
    let sub = run(&["-d"], &cmd);
    assert_eq!(sub.code(), 0, "{}", sub.stderr());
    assert!(marker.exists());
    assert_eq!(
        l.requests_to("DELETE", &format!("/imagepullsecrets/{NAME}"))
            .len(),
        1
    );
    assert_eq!(l.requests_to("POST", "/imagepullsecrets").len(), 2);
    assert_eq!(
        l.state()["image_pull_secrets"][NAME]["password_sha256"],
        "8cd09db71611229cf4337885f7ef9e49d36eb59064a0caeeb68cc5072d5496b8"
    );
    outputs.push(sub);
    let failing = run(&["-d"], "$(echo leaked-output; exit 3)");
    assert_ne!(failing.code(), 0);
    assert!(
        failing.stderr().contains("registry 127.0.0.1:5000"),
        "{}",
        failing.stderr()
    );
    outputs.push(failing);

    // The passwords are in no other request, nothing hoist stored, and no output.
    let secrets = [PASSWORD, "cmd-pw-321", "leaked-output"];
    for r in l.requests() {
        let t = r.to_string();
        assert!(secrets.iter().all(|p| !t.contains(p)), "{t}");
    }
    for (p, b) in all_bytes(&l.home()) {
        let t = String::from_utf8_lossy(&b);
        assert!(
            secrets.iter().all(|s| !t.contains(s)),
            "a password in {}",
            p.display()
        );
    }
    for o in &outputs {
        let t = format!("{}{}", o.stdout(), o.stderr());
        assert!(secrets.iter().all(|s| !t.contains(s)), "{t}");
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

#[test]
fn a_staging_job_fetches_the_runner_and_moves_its_data() {
    // The fake runs nothing, so the job's container is played here: the body's command and
    // env in a container of the testbed's image on the host network, as a Lepton worker would
    // run them. The runner comes from the presigned URL; data moves through the testbed's S3.
    let l = Lepton::new(json!({"script": [["Running", 0]]}));
    let b = s3::bucket();
    s3::put(&b, "ds/train.json", b"{\"rows\": 3}\n");
    let spec = l.path("spec.yaml");
    std::fs::write(
        &spec,
        format!("dataset:\n  train_file: s3://{b}/ds/train.json\ntrain:\n  results_dir: \"\"\n"),
    )
    .expect("spec");
    let script = r#"set -e
s={config_path}
cat "$(sed -n 's/^  train_file: //p' $s)"
echo trained > "$(sed -n 's/^  results_dir: //p' $s)/w.txt""#;
    let mut c = l.command(&[
        "run",
        "-d",
        "--platform",
        "lepton",
        "--image",
        "hoist-test/busybox:latest",
        "--spec",
        spec.to_str().expect("utf8"),
        "-o",
        "train.results_dir",
        "-e",
        &format!("S3_BUCKET_NAME={b}"),
        "--",
        script,
    ]);
    s3::env(&mut c);
    let o = Out(c.output().expect("hoist"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let id = o.stdout().trim().to_string();
    let body = l.created_body();
    let spec_json = &body["spec"];
    let mut run = std::process::Command::new("docker");
    run.args(["run", "--rm", "--network", "host"]);
    for e in spec_json["envs"].as_array().expect("envs") {
        let name = e["name"].as_str().expect("name");
        let value = match (e["value"].as_str(), name) {
            (Some(v), _) => v.to_string(),
            // Secrets are references in the body; the worker gets their values.
            (None, "ACCESS_KEY") => s3::ACCESS.to_string(),
            (None, "SECRET_KEY") => s3::SECRET.to_string(),
            (None, other) => panic!("unexpected secret {other}: {e}"),
        };
        run.arg("-e").arg(format!("{name}={value}"));
    }
    let cmd: Vec<String> =
        serde_json::from_value(spec_json["container"]["command"].clone()).expect("cmd");
    assert!(
        !body.to_string().contains(s3::SECRET),
        "secret values are references"
    );
    run.arg("hoist-test/busybox:latest").args(&cmd);
    let out = run.output().expect("docker run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("{\"rows\": 3}"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        s3::get(&b, &format!("results/{id}/train_results_dir/w.txt")).as_deref(),
        Some(&b"trained\n"[..])
    );
    // The runner was published once, by content.
    let listing = std::fs::read_dir(s3::path(&b, "hoist/runner"))
        .expect("runner published")
        .count();
    assert_eq!(listing, 1);
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
