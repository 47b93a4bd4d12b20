//! Lepton jobs and data: a registry login as the workspace's image pull secret, a staging job
//! run as a worker would, and a SkyPilot task whose local workdir reaches the job through the
//! staging bucket. Same stand-in as lepton.rs.

mod harness;
#[path = "harness/lepton.rs"]
mod lepton_world;
use harness::*;
use lepton_world::*;
use serde_json::{Value, json};

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
    assert!(
        !body.to_string().contains(s3::SECRET),
        "secret values are references"
    );
    let out = l.play_worker("hoist-test/busybox:latest");
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

/// A SkyPilot task's local workdir on Lepton: sent to the staging bucket (its .gitignore
/// honoured), then downloaded by the job's runner to /sky_workdir, where run starts.
#[test]
fn a_tasks_local_workdir_reaches_the_job_through_the_bucket() {
    let l = Lepton::new(json!({"script": [["Running", 0]]}));
    let b = s3::bucket();
    std::fs::create_dir_all(l.path("proj/conf")).expect("workdir");
    std::fs::write(l.path("proj/marker.txt"), "from-this-machine\n").expect("marker");
    std::fs::write(l.path("proj/conf/a.yaml"), "lr: 0.1\n").expect("conf");
    std::fs::write(l.path("proj/debug.log"), "left behind\n").expect("log");
    std::fs::write(l.path("proj/.gitignore"), "*.log\n").expect("gitignore");
    std::fs::write(
        l.path("t.yaml"),
        "resources:\n  image_id: docker:hoist-test/busybox:latest\nworkdir: ./proj\nrun: |\n  pwd\n  cat marker.txt conf/a.yaml\n  ls debug.log 2>/dev/null || echo no-log\n",
    )
    .expect("task");
    // Without a bucket there is no way there: refused, nothing stored.
    let mut c = l.command(&["launch", "t.yaml", "--platform", "lepton", "-d"]);
    c.current_dir(l.dir.path());
    let o = Out(c.output().expect("hoist"));
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(o.stderr().contains("S3_BUCKET_NAME"), "{}", o.stderr());
    assert!(l.ls().is_empty());

    let mut c = l.command(&["launch", "t.yaml", "--platform", "lepton", "-d"]);
    s3::env(&mut c);
    c.current_dir(l.dir.path()).env("S3_BUCKET_NAME", &b);
    let o = Out(c.output().expect("hoist"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let id = o.stdout().trim().to_string();
    assert!(
        o.stderr().contains("leaving out what .gitignore lists"),
        "{}",
        o.stderr()
    );
    assert_eq!(
        s3::get(&b, &format!("hoist/uploads/{id}/0-proj/marker.txt")).as_deref(),
        Some(&b"from-this-machine\n"[..])
    );
    assert!(s3::get(&b, &format!("hoist/uploads/{id}/0-proj/debug.log")).is_none());
    let out = l.play_worker("hoist-test/busybox:latest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("/sky_workdir\nfrom-this-machine\nlr: 0.1\nno-log"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
