//! Which daemon a docker job runs on, and what happens when that daemon is far, slow or gone:
//! ssh and tcp transports, contexts, an unreachable or hanging engine. Needs scripts/testbed.sh.

mod harness;
use harness::docker::*;
use harness::*;

#[test]
fn remote_daemons_over_ssh_and_tcp() {
    let e = denv();
    for host in [SSH_HOST, TCP_HOST] {
        let o = drun(
            &e,
            &["--docker-host", host, "--name", "remote"],
            &["sh", "-c", "echo via $0"],
        );
        assert_eq!(o.code(), 0, "{host}: {}", o.stderr());
        assert_eq!(o.stdout(), "via sh\n");
        let id = e.ls()[0]["job_id"].as_str().expect("id").to_string();
        let show: serde_json::Value =
            serde_json::from_str(&e.run(&["show", &id, "--json"]).stdout()).expect("show");
        assert!(
            show["backend_identity"]
                .as_str()
                .is_some_and(|b| b.ends_with(&format!("@{host}"))),
            "{show}"
        );
        // A later shell without --docker-host goes back to the daemon the job was started on.
        assert_eq!(e.run(&["logs", &id]).stdout(), "via sh\n");
        assert_eq!(e.run(&["rm", &id]).code(), 0);
    }
    let o = e
        .cmd(&[
            "run",
            "--platform",
            "docker",
            "--image",
            IMG,
            "--",
            "echo",
            "env",
        ])
        .env("DOCKER_HOST", TCP_HOST)
        .output()
        .expect("run");
    assert_eq!(
        o.status.code(),
        Some(0),
        "DOCKER_HOST is honoured: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_job_is_never_looked_up_on_another_daemon() {
    let e = denv();
    let id = dsubmit(&e, &["--name", "pinned"], &["sleep", "300"]);
    e.wait_status(&id, "Running");
    // Make the store say the job was started on another daemon.
    let sql = format!(
        "UPDATE jobs SET backend_identity = 'docker:OTHER-DAEMON@unix:///var/run/docker.sock' WHERE id = '{id}';"
    );
    e.sql(&sql);
    let s = e.status_json(&id);
    assert_eq!(s["status"], "Unknown");
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.contains("OTHER-DAEMON")),
        "{s}"
    );
    let logs = e.run(&["logs", &id]);
    assert_eq!(logs.code(), 1);
    assert!(
        logs.stderr().contains("was started on"),
        "{}",
        logs.stderr()
    );
    let c = e.run(&["cancel", &id]);
    assert_ne!(
        c.code(),
        0,
        "cancel must not touch a container on the wrong daemon"
    );
    assert_eq!(inspect(&id, "{{.State.Status}}"), "running");
    docker(&["rm", "-f", &format!("hoist-job-{id}")]);
}

#[test]
fn an_unreachable_daemon_reads_unknown_not_terminal() {
    let e = denv();
    let id = dsubmit(&e, &["--docker-host", TCP_HOST], &["sleep", "300"]);
    e.wait_status(&id, "Running");
    // Point the job at an endpoint where nothing listens (as if the tunnel went down).
    let sql = format!(
        "UPDATE jobs SET pinned = json_set(pinned, '$.host', 'tcp://127.0.0.1:1') WHERE id = '{id}';"
    );
    e.sql(&sql);
    let s = e.status_json(&id);
    assert_eq!(s["status"], "Unknown", "{s}");
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.contains("unreachable")),
        "{s}"
    );
    docker(&["rm", "-f", &format!("hoist-job-{id}")]);
}

#[test]
fn docker_contexts_choose_the_daemon() {
    let e = denv();
    let cfg = e.path("docker-config");
    std::fs::create_dir_all(&cfg).expect("mkdir");
    let ctx = |args: &[&str]| {
        let o = std::process::Command::new("docker")
            .env("DOCKER_CONFIG", &cfg)
            .args(args)
            .output()
            .expect("docker");
        assert!(
            o.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    ctx(&[
        "context",
        "create",
        "hoist-tcp",
        "--docker",
        &format!("host={TCP_HOST}"),
    ]);
    let run = |extra: &[(&str, &str)]| {
        let mut c = e.cmd(&["run", "--platform", "docker", "--image", IMG, "--", "true"]);
        c.env("DOCKER_CONFIG", &cfg)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT");
        for (k, v) in extra {
            c.env(k, v);
        }
        let o = c.output().expect("run");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let id = e.ls()[0]["job_id"].as_str().expect("id").to_string();
        let show: serde_json::Value =
            serde_json::from_str(&e.run(&["show", &id, "--json"]).stdout()).expect("show");
        show["backend_identity"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(run(&[("DOCKER_CONTEXT", "hoist-tcp")]).ends_with(&format!("@{TCP_HOST}")));
    assert!(
        run(&[]).ends_with("@unix:///var/run/docker.sock"),
        "no context: the local socket"
    );
    ctx(&["context", "use", "hoist-tcp"]);
    assert!(
        run(&[]).ends_with(&format!("@{TCP_HOST}")),
        "the current context"
    );
}

#[test]
fn a_hanging_daemon_does_not_hang_status() {
    let e = denv();
    let id = dsubmit(&e, &["--docker-host", TCP_HOST], &["sleep", "300"]);
    e.wait_status(&id, "Running");
    // A listener that accepts connections and never answers, like a wedged tunnel.
    let mut hang = std::process::Command::new("python3")
        .args(["-c", "import socket,time\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(16)\nprint(s.getsockname()[1], flush=True)\ntime.sleep(600)"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let port = read_until(hang.stdout.as_mut().expect("stdout"), "\n")
        .trim()
        .to_string();
    e.sql(&format!("UPDATE jobs SET pinned = json_set(pinned, '$.host', 'tcp://127.0.0.1:{port}') WHERE id = '{id}';"));
    let o = e
        .cmd(&["status", &id, "--json"])
        .env("HOIST_BACKEND_TIMEOUT", "2")
        .output()
        .expect("status");
    let _ = hang.kill();
    let _ = hang.wait();
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(s["status"], "Unknown", "{s}");
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.contains("no answer within 2 s")),
        "{s}"
    );
    docker(&["rm", "-f", &format!("hoist-job-{id}")]);
}
