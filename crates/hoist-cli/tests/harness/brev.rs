//! The Brev world of the e2e tests: the scripted `brev` stand-in
//! (crates/hoist-brev/tests/fake-brev) first on PATH, each instance's ssh alias at the
//! testbed's sshd (whose host runs the real Docker engine), and a hoist store; the job
//! containers are removed when a test ends.
#![allow(dead_code)]

use crate::harness::*;
use serde_json::{Value, json};
use std::path::PathBuf;

pub const IMG: &str = "hoist-test/busybox:latest";
pub const TOKEN: &str = "brev-tok-7f3a9c21e5d4";
pub const CLIENT_KEY: &str = "/root/.ssh/hoist_testbed_ed25519";

/// One test's Brev world: the fake's state, a HOME for ~/.brev, hoist's store.
pub struct Brev {
    pub env: Env,
}

impl std::ops::Deref for Brev {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.env
    }
}

impl Drop for Brev {
    fn drop(&mut self) {
        let o = self.command(&["ls", "--json"], true).output();
        let jobs: Vec<Value> = o
            .ok()
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or_default();
        let names: Vec<String> = jobs
            .iter()
            .filter_map(|j| j["job_id"].as_str())
            .map(|id| format!("hoist-job-{id}"))
            .collect();
        if !names.is_empty() {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f"])
                .args(&names)
                .output();
        }
    }
}

pub fn fake_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hoist-brev/tests/fake-brev")
}

impl World for Brev {
    fn hoist_cmd(&self, args: &[&str]) -> std::process::Command {
        self.command(args, true)
    }
}

impl Brev {
    /// A world whose fake reads `setup` (merged over: the token, the testbed's sshd).
    pub fn new(setup: Value) -> Brev {
        assert!(
            std::path::Path::new(CLIENT_KEY).exists(),
            "{CLIENT_KEY} is missing: run scripts/testbed.sh (it starts the sshd these tests reach)"
        );
        let img = std::process::Command::new("docker")
            .args(["image", "inspect", IMG])
            .output()
            .expect("docker CLI (run scripts/testbed.sh)");
        assert!(
            img.status.success(),
            "test image {IMG} is missing: run scripts/testbed.sh"
        );
        let env = Env::new();
        let mut s = json!({
            "token": TOKEN,
            "ssh": {"host": "127.0.0.1", "port": 2222, "user": "root", "key": CLIENT_KEY},
        });
        if let (Some(base), Some(extra)) = (s.as_object_mut(), setup.as_object()) {
            base.extend(extra.clone());
        }
        let b = Brev { env };
        std::fs::create_dir_all(b.state()).expect("state dir");
        std::fs::create_dir_all(b.user_home()).expect("home");
        std::fs::write(b.state().join("setup.json"), s.to_string()).expect("setup");
        b
    }

    pub fn state(&self) -> PathBuf {
        self.env.path("brev-state")
    }

    pub fn user_home(&self) -> PathBuf {
        self.env.path("user-home")
    }

    pub fn command(&self, args: &[&str], token: bool) -> std::process::Command {
        let mut c = self.env.cmd(args);
        let path = format!(
            "{}:{}",
            fake_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.env("PATH", path)
            .env("HOME", self.user_home())
            .env("FAKE_BREV_STATE", self.state())
            .env_remove("HOIST_BREV_BIN")
            .env_remove("DOCKER_HOST");
        if token {
            c.env("BREV_API_TOKEN", TOKEN);
        } else {
            c.env_remove("BREV_API_TOKEN");
        }
        c
    }

    /// Run the fake itself (a test playing the user at the Brev console).
    pub fn brev(&self, args: &[&str]) {
        let o = std::process::Command::new(fake_dir().join("brev"))
            .args(args)
            .env("HOME", self.user_home())
            .env("FAKE_BREV_STATE", self.state())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("fake brev");
        assert!(
            o.status.success(),
            "brev {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// Every brev call hoist made, as argv.
    pub fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.state().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| {
                v["argv"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect()
    }

    pub fn calls_of(&self, verb: &str) -> Vec<Vec<String>> {
        self.calls()
            .into_iter()
            .filter(|c| c.first().map(String::as_str) == Some(verb))
            .collect()
    }

    /// `brev ls --json` as the fake answers now.
    pub fn listed(&self) -> Vec<Value> {
        let o = std::process::Command::new(fake_dir().join("brev"))
            .args(["ls", "--json"])
            .env("HOME", self.user_home())
            .env("FAKE_BREV_STATE", self.state())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("fake brev");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        match v {
            Value::Array(a) => a,
            Value::Object(m) => m
                .get("workspaces")
                .and_then(|w| w.as_array().cloned())
                .unwrap_or_default(),
            _ => vec![],
        }
    }

    /// Nothing hoist wrote or printed holds the token, and brev got it only through login.
    pub fn assert_token_nowhere(&self, printed: &[&Out]) {
        for (p, bytes) in all_bytes(&self.home()) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(TOKEN),
                "the token is in {}",
                p.display()
            );
        }
        for o in printed {
            assert!(!o.stdout().contains(TOKEN) && !o.stderr().contains(TOKEN));
        }
        for c in self.calls() {
            if c.iter().any(|a| a.contains(TOKEN)) {
                assert_eq!(c, ["login", "--token", TOKEN], "token outside login: {c:?}");
            }
        }
    }
}
