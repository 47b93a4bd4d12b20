//! Docker test stores: the testbed's image, and a store whose containers are removed when the
//! test ends, pass or fail, on whichever daemon each job was pinned to.

use super::{Env, Out};
use std::collections::BTreeMap;

/// The image scripts/testbed.sh builds.
pub const IMG: &str = "hoist-test/busybox:latest";
/// The testbed's daemon over ssh.
pub const SSH_HOST: &str = "ssh://hoist-testbed-ssh";
/// The testbed's daemon over tcp.
pub const TCP_HOST: &str = "tcp://127.0.0.1:23750";

pub struct DEnv(pub Env);

impl std::ops::Deref for DEnv {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.0
    }
}

impl Drop for DEnv {
    fn drop(&mut self) {
        let o = self.0.run(&["ls", "--json"]);
        let jobs: Vec<serde_json::Value> = serde_json::from_str(&o.stdout()).unwrap_or_default();
        // Container names by the daemon they were pinned to ("" is the local one).
        let mut by_host: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in jobs.iter().filter_map(|j| j["job_id"].as_str()) {
            let host = self
                .0
                .run(&["show", id, "--json"])
                .stdout()
                .parse::<serde_json::Value>()
                .ok()
                .and_then(|s| s["pinned"]["host"].as_str().map(String::from))
                .unwrap_or_default();
            by_host
                .entry(host)
                .or_default()
                .push(format!("hoist-job-{id}"));
        }
        for (host, names) in by_host {
            let mut c = std::process::Command::new("docker");
            if !host.is_empty() {
                c.args(["-H", &host]);
            }
            let _ = c.arg("rm").arg("-f").args(&names).output();
        }
    }
}

/// A fresh store for docker tests; the testbed's image must be there.
pub fn denv() -> DEnv {
    let o = std::process::Command::new("docker")
        .args(["image", "inspect", IMG])
        .output()
        .expect("docker CLI (run scripts/testbed.sh)");
    assert!(
        o.status.success(),
        "test image {IMG} is missing: run scripts/testbed.sh"
    );
    DEnv(Env::new())
}

/// `docker ARGS`, which must succeed; its trimmed stdout.
pub fn docker(args: &[&str]) -> String {
    let o = std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI (run scripts/testbed.sh)");
    assert!(
        o.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// `docker inspect -f FMT` of a job's container.
pub fn inspect(id: &str, fmt: &str) -> String {
    docker(&["inspect", "-f", fmt, &format!("hoist-job-{id}")])
}

/// An attached docker run of the testbed image.
pub fn drun(e: &DEnv, extra: &[&str], cmd: &[&str]) -> Out {
    let mut a = vec!["run", "--platform", "docker", "--image", IMG];
    a.extend_from_slice(extra);
    a.push("--");
    a.extend_from_slice(cmd);
    e.run(&a)
}

/// A detached docker run of the testbed image; the job id.
pub fn dsubmit(e: &DEnv, extra: &[&str], cmd: &[&str]) -> String {
    let mut a = vec!["--platform", "docker", "--image", IMG];
    a.extend_from_slice(extra);
    a.push("--");
    a.extend_from_slice(cmd);
    e.submit(&a)
}

/// `c` without any registry login from the environment (Docker's, SkyPilot's, NGC's), so a
/// test's pull uses only the credentials it gives.
pub fn without_registry_logins(c: &mut std::process::Command) -> &mut std::process::Command {
    for k in [
        "DOCKER_USERNAME",
        "DOCKER_PASSWORD",
        "DOCKER_SERVER",
        "SKYPILOT_DOCKER_USERNAME",
        "SKYPILOT_DOCKER_PASSWORD",
        "NGC_KEY",
    ] {
        c.env_remove(k);
    }
    c
}
