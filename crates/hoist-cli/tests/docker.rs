//! The docker platform against the real engine. The image, sshd and tcp endpoint come from
//! scripts/testbed.sh; a missing piece fails with the fix, never a skip.

mod harness;
use harness::docker::*;
use harness::*;
use std::io::Read;

#[test]
fn run_labels_network_and_exit_codes() {
    let e = denv();
    let o = drun(
        &e,
        &["--name", "dk1", "--label", "team=vision"],
        &[
            "sh",
            "-c",
            "echo out; echo err >&2; echo $TAO_JOB_ID; exit 3",
        ],
    );
    assert_eq!(o.code(), 3, "{}", o.stderr());
    let id = e.ls()[0]["job_id"].as_str().expect("id").to_string();
    // stdout and stderr are separate streams in Docker: their interleaving is not kept.
    let mut got: Vec<String> = o.stdout().lines().map(str::to_string).collect();
    got.sort_unstable();
    let mut want = vec!["out".to_string(), "err".to_string(), id.clone()];
    want.sort_unstable();
    assert_eq!(got, want);
    assert_eq!(
        inspect(
            &id,
            "{{index .Config.Labels \"hoist.job-id\"}} {{index .Config.Labels \"hoist.platform\"}} {{index .Config.Labels \"team\"}}"
        ),
        format!("{id} docker vision")
    );
    // Joined by id (a duplicate name cannot make it ambiguous); the network is hoist_default.
    assert_eq!(
        inspect(
            &id,
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}"
        ),
        "hoist_default"
    );
    assert_eq!(
        docker(&["network", "inspect", "-f", "{{.Name}}", "hoist_default"]),
        "hoist_default"
    );
    assert_eq!(
        inspect(&id, "{{.State.Status}}"),
        "exited",
        "containers are kept after exit"
    );
    let ok = drun(&e, &["--network", "bridge"], &["echo", "a b", "$HOME"]);
    assert_eq!(
        (ok.code(), ok.stdout().as_str()),
        (0, "a b $HOME\n"),
        "argv words reach the container unexpanded"
    );
    let s = e.status_json("dk1");
    assert_eq!(
        (s["status"].as_str(), s["exit_code"].as_i64()),
        (Some("Error"), Some(3))
    );
    assert!(s["backend_job_id"].as_str().is_some_and(|b| b.len() == 12));
}

#[test]
fn detached_logs_tail_follow_and_reattach() {
    let e = denv();
    let id = dsubmit(
        &e,
        &["--name", "dk-follow"],
        &[
            "sh",
            "-c",
            "echo one; echo two; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo three",
        ],
    );
    e.wait_status(&id, "Running");
    wait_for("two lines", || {
        e.run(&["logs", &id]).stdout() == "one\ntwo\n"
    });
    assert_eq!(e.run(&["logs", &id, "--tail", "1"]).stdout(), "two\n");
    let mut f = e.spawn(&["logs", "-f", "dk-follow"]);
    let mut out = f.stdout.take().expect("stdout");
    let mut seen = read_until(&mut out, "two\n").into_bytes();
    docker(&["exec", &format!("hoist-job-{id}"), "touch", "/tmp/go"]);
    out.read_to_end(&mut seen).expect("rest");
    assert_eq!(String::from_utf8_lossy(&seen), "one\ntwo\nthree\n");
    assert!(f.wait().expect("follow").success());
    assert_eq!(e.run(&["wait", &id]).code(), 0);
    assert_eq!(e.status(&id), "Complete");
}

#[test]
fn cancel_keeps_natural_results_and_is_idempotent() {
    let e = denv();
    let id = dsubmit(&e, &[], &["sleep", "300"]);
    e.wait_status(&id, "Running");
    let c = e.run(&["cancel", &id]);
    assert_eq!(c.code(), 0, "{}", c.stderr());
    assert_eq!(e.status(&id), "Canceled");
    assert_eq!(inspect(&id, "{{.State.Status}}"), "exited");
    assert!(e.run(&["cancel", &id]).stdout().contains("already ended"));
    let done = dsubmit(&e, &[], &["true"]);
    assert_eq!(e.run(&["wait", &done]).code(), 0);
    assert!(
        e.run(&["cancel", &done])
            .stdout()
            .contains("already ended: Complete")
    );
    assert_eq!(e.status(&done), "Complete");
}

#[test]
fn oomkilled_for_real_and_explained() {
    let e = denv();
    let o = drun(
        &e,
        &["--name", "hog", "--memory", "16m"],
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
    );
    assert_eq!(o.code(), 137, "{}", o.stderr());
    let v: serde_json::Value =
        serde_json::from_str(&e.run(&["why", "hog", "--json"]).stdout()).expect("json");
    assert_eq!(
        (v["rule"].as_str(), v["err_class"].as_str()),
        (Some("OOMKilled"), Some("ERR_PROGRAM")),
        "{v}"
    );
    assert!(
        v["cause"].as_str().is_some_and(|c| c.contains("16 MiB")),
        "{v}"
    );
    let id = e.ls()[0]["job_id"].as_str().expect("id").to_string();
    assert_eq!(
        inspect(&id, "{{.HostConfig.Memory}}"),
        (16 << 20).to_string()
    );
}

#[test]
fn missing_image_is_refused_and_classified() {
    let e = denv();
    let o = e.run(&[
        "run",
        "--platform",
        "docker",
        "--image",
        "hoist-test/does-not-exist:1",
        "--pull",
        "never",
        "--name",
        "noimg",
        "--",
        "true",
    ]);
    // Bad input, seen before the row is written (issue 16 item 6): exit 2, nothing stored.
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr().contains("hoist-test/does-not-exist:1") && o.stderr().contains("--pull never"),
        "{}",
        o.stderr()
    );
    assert!(e.ls().is_empty(), "nothing stored");
}

#[test]
fn gpu_requests_reach_the_engine_and_a_missing_toolkit_is_infrastructure() {
    let e = denv();
    let id = dsubmit(&e, &["--gpus", "2", "--name", "gpu2"], &["nvidia-smi"]);
    assert_eq!(
        inspect(&id, "{{json .HostConfig.DeviceRequests}}"),
        r#"[{"Driver":"","Count":2,"DeviceIDs":null,"Capabilities":[["gpu"]],"Options":null}]"#
    );
    assert_eq!(e.run(&["wait", &id]).code(), 1);
    let v: serde_json::Value =
        serde_json::from_str(&e.run(&["why", "gpu2", "--json"]).stdout()).expect("json");
    assert_eq!(
        (v["rule"].as_str(), v["err_class"].as_str()),
        (Some("log:nvidia_toolkit_missing"), Some("ERR_INFRA")),
        "{v}"
    );
    assert!(
        v["suggestion"]
            .as_str()
            .is_some_and(|s| s.contains("nvidia-container-toolkit")),
        "{v}"
    );
    let ids = dsubmit(&e, &["--gpus", "0,1"], &["true"]);
    assert_eq!(
        inspect(
            &ids,
            "{{json (index .HostConfig.DeviceRequests 0).DeviceIDs}}"
        ),
        r#"["0","1"]"#
    );
    let none = drun(&e, &[], &["sh", "-c", "echo $NVIDIA_VISIBLE_DEVICES"]);
    assert_eq!(none.stdout(), "void\n");
    let dry = e.run(&[
        "run",
        "--dry-run",
        "--platform",
        "docker",
        "--image",
        IMG,
        "--gpus",
        "4",
        "--",
        "torchrun",
        "train.py",
    ]);
    let v: serde_json::Value = serde_json::from_str(&dry.stdout()).expect("dry-run json");
    let envs: Vec<String> = serde_json::from_value(v["create"]["Env"].clone()).expect("env");
    for want in [
        "NPROC_PER_NODE=4",
        "NUM_GPU_PER_NODE=4",
        "NNODES=1",
        "NODE_RANK=0",
        "MASTER_ADDR=localhost",
        "MASTER_PORT=29500",
    ] {
        assert!(envs.contains(&want.to_string()), "{want} in {envs:?}");
    }
    let multi = e.run(&[
        "run",
        "--platform",
        "docker",
        "--image",
        IMG,
        "--nodes",
        "2",
        "--",
        "true",
    ]);
    assert_eq!(multi.code(), 2);
    assert!(multi.stderr().contains("one host"), "{}", multi.stderr());
}

#[test]
fn rm_flag_saves_logs_and_exit_code_before_removing() {
    let e = denv();
    let o = drun(
        &e,
        &["--rm", "--name", "ephemeral"],
        &["sh", "-c", "echo kept; exit 5"],
    );
    assert_eq!(o.code(), 5, "{}", o.stderr());
    let id = e.ls()[0]["job_id"].as_str().expect("id").to_string();
    let gone = std::process::Command::new("docker")
        .args(["inspect", &format!("hoist-job-{id}")])
        .output()
        .expect("docker");
    assert!(!gone.status.success(), "container removed");
    assert_eq!(e.run(&["logs", "ephemeral"]).stdout(), "kept\n");
    let s = e.status_json("ephemeral");
    assert_eq!(
        (s["status"].as_str(), s["exit_code"].as_i64()),
        (Some("Error"), Some(5))
    );
}

#[test]
fn mounts_user_workdir_and_a_missing_bind_source() {
    let e = denv();
    let dir = e.path("data");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("in.txt"), "payload\n").expect("write");
    let mount = format!("{}:/data:ro", dir.display());
    let o = drun(
        &e,
        &["--mount", &mount, "--user", "65534", "--workdir", "/data"],
        &[
            "sh",
            "-c",
            "cat in.txt; id -u; touch x 2>/dev/null || echo read-only",
        ],
    );
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert_eq!(o.stdout(), "payload\n65534\nread-only\n");
    let bad = format!("{}:/data", e.path("absent").display());
    let o = drun(&e, &["--mount", &bad, "--name", "nomount"], &["true"]);
    // Refused before the row (issue 16 item 6): exit 2, no job to explain.
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(o.stderr().contains("does not exist"), "{}", o.stderr());
    assert_eq!(e.ls().len(), 1, "only the first job is stored");
    let wrong = e.run(&["run", "--mount", "/a:/b", "--", "true"]);
    assert_eq!(
        wrong.code(),
        2,
        "--mount is a docker flag: {}",
        wrong.stderr()
    );
}

#[test]
fn preflight_checks_the_daemon_and_paths() {
    let e = denv();
    let here = e.path("present");
    std::fs::create_dir_all(&here).expect("mkdir");
    let o = e.run(&[
        "preflight",
        "--platform",
        "docker",
        "--image",
        IMG,
        "--path",
        &format!("data={}", here.display()),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout()).expect("json");
    assert_eq!(o.code(), 0, "{v}");
    let check = |name: &str| {
        v["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no check {name}: {v}"))
    };
    assert!(
        check("daemon")["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Docker 2")),
        "{v}"
    );
    assert_eq!(
        check("nvidia runtime")["ok"],
        false,
        "this testbed has no NVIDIA runtime"
    );
    assert!(
        check("nvidia runtime")["remedy"]
            .as_str()
            .is_some_and(|r| r.contains("nvidia-ctk"))
    );
    assert_eq!(check("path data")["ok"], true);
    let missing = e.run(&[
        "preflight",
        "--platform",
        "docker",
        "--docker-host",
        TCP_HOST,
        "--image",
        IMG,
        "--path",
        "data=/no/such/dir",
        "--json",
    ]);
    assert_eq!(missing.code(), 1, "{}", missing.stdout());
    let v: serde_json::Value = serde_json::from_str(&missing.stdout()).expect("json");
    let p = v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "path data").cloned())
        .expect("path check");
    assert_eq!(
        p["ok"], false,
        "checked through a container on the daemon's host: {v}"
    );
    let down = e.run(&[
        "preflight",
        "--platform",
        "docker",
        "--docker-host",
        "tcp://127.0.0.1:1",
        "--json",
    ]);
    assert_eq!(down.code(), 1);
    assert!(down.stdout().contains("start dockerd"), "{}", down.stdout());
}

#[test]
fn kill_9_during_a_docker_submit_is_reconciled() {
    let e = denv();
    for (point, name, outcome) in [
        ("after-submit", "adopt", "adopted"),
        ("after-insert", "fence", "abandoned"),
    ] {
        crash_at(
            e.cmd(&[
                "run",
                "-d",
                "--platform",
                "docker",
                "--image",
                IMG,
                "--name",
                name,
                "--",
                "echo",
                "ran",
            ]),
            point,
        );
        let r = e.run(&["reconcile"]);
        assert!(
            r.stdout().contains(&format!("{name} {outcome}")),
            "{}",
            r.stdout()
        );
    }
    assert_eq!(e.run(&["wait", "adopt"]).code(), 0);
    assert_eq!(e.run(&["logs", "adopt"]).stdout(), "ran\n");
    assert_eq!(e.status("fence"), "Error");
    let fence = e.status_json("fence")["job_id"]
        .as_str()
        .expect("id")
        .to_string();
    let none = std::process::Command::new("docker")
        .args(["inspect", &format!("hoist-job-{fence}")])
        .output()
        .expect("docker");
    assert!(!none.status.success(), "a fenced launch has no container");
    assert_eq!(e.ls().len(), 2);
}

#[test]
fn runner_image_installs_the_static_binary_for_an_init_container() {
    let e = Env::new();
    let tag = format!("hoist-test/runner:{}", std::process::id());
    let o = e.run(&["runner-image", "--tag", &tag]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert_eq!(o.stdout().trim(), tag);
    // What a Kubernetes init container does: copy /hoist into a shared volume…
    let vol = e.path("shared");
    std::fs::create_dir_all(&vol).expect("volume");
    docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/opt/hoist", vol.display()),
        &tag,
        "__install",
        "/opt/hoist",
    ]);
    // …from which an unrelated image (no libc of ours) runs it.
    let v = docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/opt/hoist:ro", vol.display()),
        IMG,
        "/opt/hoist/hoist",
        "--version",
    ]);
    assert!(v.starts_with("hoist "), "{v}");
    docker(&["rmi", "-f", &tag]);
}
