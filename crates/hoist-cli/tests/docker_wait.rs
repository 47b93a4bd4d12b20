//! Docker jobs: `wait` wakes on the engine's word that the container stopped (over every
//! transport), and `gc` removes ended jobs' containers without losing logs, why or show.
//! Needs scripts/testbed.sh (the image, the ssh and tcp endpoints).

mod harness;
use harness::docker::*;
use std::time::{Duration, Instant};

/// A poll interval no test could sit through: a wait that returns well before it woke on the
/// engine, not on a poll.
const POLL_MS: &str = "10000";

fn container_exists(id: &str) -> bool {
    std::process::Command::new("docker")
        .args(["container", "inspect", &format!("hoist-job-{id}")])
        .output()
        .expect("docker CLI")
        .status
        .success()
}

#[test]
fn wait_wakes_on_the_container_exit_not_the_poll_over_every_transport() {
    let e = denv();
    for host in ["", TCP_HOST, SSH_HOST] {
        let extra: Vec<&str> = if host.is_empty() {
            vec![]
        } else {
            vec!["--docker-host", host]
        };
        let id = dsubmit(&e, &extra, &["sh", "-c", "sleep 2; exit 3"]);
        let started = Instant::now();
        let o = e
            .cmd(&["wait", &id])
            .env("HOIST_POLL_MIN_MS", POLL_MS)
            .env("HOIST_POLL_MAX_MS", POLL_MS)
            .output()
            .expect("wait");
        let took = started.elapsed();
        assert_eq!(
            o.status.code(),
            Some(3),
            "{host}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // The job runs 2 s; one poll alone would be 10 s.
        assert!(
            took < Duration::from_secs(8),
            "{host}: wait took {took:?}: it polled instead of waking on the engine"
        );
    }
}

#[test]
fn rm_force_of_a_running_job_wakes_on_the_engine() {
    // `cancel` of a running job waits for its end through the same wait.
    let e = denv();
    // PID 1 ignores SIGTERM unless it handles it: this one stops at once.
    let id = dsubmit(
        &e,
        &[],
        &["sh", "-c", "trap 'exit 143' TERM; sleep 60 & wait"],
    );
    e.wait_status(&id, "Running");
    let started = Instant::now();
    let o = e
        .cmd(&["rm", "--force", &id])
        .env("HOIST_POLL_MIN_MS", POLL_MS)
        .env("HOIST_POLL_MAX_MS", POLL_MS)
        .output()
        .expect("rm");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "rm --force took {:?}",
        started.elapsed()
    );
}

#[test]
fn gc_removes_ended_containers_and_keeps_logs_why_and_show() {
    let e = denv();
    let old = dsubmit(
        &e,
        &["--name", "old"],
        &["sh", "-c", "echo from-old; exit 3"],
    );
    assert_eq!(e.run(&["wait", &old]).code(), 3);
    let new = dsubmit(&e, &["--name", "new"], &["sh", "-c", "echo from-new"]);
    assert_eq!(e.run(&["wait", &new]).code(), 0);
    let why_before = e.run(&["why", &old, "--json"]).stdout();

    // The default retention (7d) keeps both.
    let o = e.run(&["gc"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(container_exists(&old) && container_exists(&new));

    // A dry run names what would go and removes nothing.
    let o = e.run(&["gc", "--older-than", "0", "--dry-run", "--json"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let listed: Vec<serde_json::Value> = serde_json::from_str(&o.stdout()).expect("json");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|c| c["removed"] == false));
    assert!(container_exists(&old) && container_exists(&new));

    // Keep the newest one: only the older container goes.
    let o = e.run(&["gc", "--keep", "1"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(o.stdout().contains(&old[..8]), "{}", o.stdout());
    assert!(!container_exists(&old), "the old container is gone");
    assert!(container_exists(&new), "the newest is kept");

    // What was kept answers for the removed container.
    assert_eq!(e.run(&["logs", &old]).stdout(), "from-old\n");
    let st = e.status_json(&old);
    assert_eq!(st["status"], "Error");
    assert_eq!(st["exit_code"], 3);
    let show = e.run(&["show", &old, "--json"]);
    assert_eq!(show.code(), 0, "{}", show.stderr());
    let why = e.run(&["why", &old, "--json"]);
    assert_eq!(why.code(), 0, "{}", why.stderr());
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&why_before).expect("why before"),
        serde_json::from_str(&why.stdout()).expect("why after"),
    );
    assert_eq!(a["class"], b["class"], "{a}\n{b}");

    // The retain setting from the environment: 0 removes every ended container.
    let o = e
        .cmd(&["gc"])
        .env("HOIST_DOCKER_RETAIN", "0")
        .output()
        .expect("gc");
    assert_eq!(o.status.code(), Some(0));
    assert!(!container_exists(&new));
    assert_eq!(e.run(&["logs", &new]).stdout(), "from-new\n");
    // Nothing left: a second run has nothing to do.
    let o = e
        .cmd(&["gc", "--json"])
        .env("HOIST_DOCKER_RETAIN", "0")
        .output()
        .expect("gc");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");

    // A bad age is bad input, named.
    let o = e.run(&["gc", "--older-than", "7x"]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(o.stderr().contains("--older-than"), "{}", o.stderr());
}

/// A unix-socket proxy in front of the local daemon that writes down every request line it
/// carries, so a test can count the calls a command makes.
struct Recorder {
    socket: std::path::PathBuf,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Recorder {
    fn start(dir: &std::path::Path) -> Recorder {
        use std::io::{Read, Write};
        use std::os::unix::net::{UnixListener, UnixStream};
        let socket = dir.join("docker-proxy.sock");
        let listener = UnixListener::bind(&socket).expect("bind the proxy socket");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(daemon) = UnixStream::connect("/var/run/docker.sock") else {
                    continue;
                };
                let (mut c_in, mut d_out) = (
                    client.try_clone().expect("clone"),
                    daemon.try_clone().expect("clone"),
                );
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = c_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        // Request lines: each request of a keep-alive connection starts one.
                        for line in String::from_utf8_lossy(&buf[..n]).lines() {
                            if ["GET ", "POST ", "DELETE ", "HEAD "]
                                .iter()
                                .any(|m| line.starts_with(m))
                            {
                                log.lock().expect("log").push(line.to_string());
                            }
                        }
                        if d_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
                let (mut d_in, mut c_out) = (daemon, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut d_in, &mut c_out);
                    let _ = c_out.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Recorder { socket, seen }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The request lines carried since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().expect("log"))
    }
}

#[test]
fn status_inspects_only_the_job_asked_about_and_asks_the_daemons_identity_once() {
    let e = denv();
    let proxy = Recorder::start(e.dir.path());
    let host = proxy.host();
    // A leftover the status must not pay for.
    let ended = dsubmit(&e, &["--docker-host", &host], &["true"]);
    assert_eq!(e.run(&["wait", &ended]).code(), 0);
    let id = dsubmit(
        &e,
        &["--docker-host", &host],
        &["sh", "-c", "trap 'exit 143' TERM; sleep 60 & wait"],
    );
    e.wait_status(&id, "Running");

    proxy.take();
    assert_eq!(e.status(&id), "Running");
    let calls = proxy.take();
    let count = |what: &str| calls.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count("/containers/json"), 0, "no listing: {calls:#?}");
    assert_eq!(
        count(&format!("/containers/hoist-job-{id}/json")),
        1,
        "{calls:#?}"
    );
    assert!(count("/info") <= 1, "{calls:#?}");
    assert!(
        calls.iter().all(|l| !l.contains(&ended)),
        "the ended job is not looked at: {calls:#?}"
    );

    // A cancel asks several verbs of the same daemon: its identity once.
    let o = e.run(&["cancel", &id]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let calls = proxy.take();
    assert_eq!(
        calls.iter().filter(|l| l.contains("/info")).count(),
        1,
        "{calls:#?}"
    );
}
