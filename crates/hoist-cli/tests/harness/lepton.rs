//! The Lepton world of the e2e tests: a recorded-response server on loopback
//! (crates/hoist-lepton/tests/fake-lepton/server.py) and a hoist store pointed at it.
#![allow(dead_code)]

use crate::harness::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};

pub const TOKEN: &str = "lepton-test-token";
pub const IMG: &str = "nvcr.io/nvidia/pytorch:25.08-py3";

/// One test's workspace: the server (killed on drop) and hoist's store.
pub struct Lepton {
    pub env: Env,
    server: Child,
    pub port: u16,
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

pub fn server_py() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hoist-lepton/tests/fake-lepton/server.py")
}

impl World for Lepton {
    fn hoist_cmd(&self, args: &[&str]) -> std::process::Command {
        self.command(args)
    }
}

impl Lepton {
    pub fn new(setup: Value) -> Lepton {
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

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v2/workspaces/ws1", self.port)
    }

    pub fn command(&self, args: &[&str]) -> std::process::Command {
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
    pub fn state(&self) -> Value {
        read_json(&self.env.path("lepton-state").join("state.json"))
    }

    pub fn submit(&self, extra: &[&str], cmd: &[&str]) -> String {
        let mut a = vec!["run", "-d", "--platform", "lepton", "--image", IMG];
        a.extend_from_slice(extra);
        a.push("--");
        a.extend_from_slice(cmd);
        let o = self.hoist(&a);
        assert_eq!(o.code(), 0, "submit: {}", o.stderr());
        o.stdout().trim().to_string()
    }

    /// Every request the server got, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.env.path("lepton-state").join("requests.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn requests_to(&self, method: &str, path_suffix: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r["method"] == method
                    && r["path"].as_str().is_some_and(|p| p.ends_with(path_suffix))
            })
            .collect()
    }

    /// POST to the server's admin routes (a test playing the workspace).
    pub fn admin(&self, path: &str, body: Value) {
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

    pub fn backend_id(&self, id: &str) -> String {
        self.status(id)["backend_job_id"]
            .as_str()
            .expect("backend id")
            .to_string()
    }

    pub fn created_body(&self) -> Value {
        self.requests_to("POST", "/jobs")
            .last()
            .map(|r| r["body"].clone())
            .expect("a POST /jobs")
    }

    /// Play the last created job as a Lepton worker would run it (the fake runs nothing): its
    /// command and env in a container of `image` on the host network, secrets (references in
    /// the body) filled with the testbed's S3 keys.
    pub fn play_worker(&self, image: &str) -> std::process::Output {
        let body = self.created_body();
        let spec = &body["spec"];
        let mut run = std::process::Command::new("docker");
        run.args(["run", "--rm", "--network", "host"]);
        for e in spec["envs"].as_array().expect("envs") {
            let name = e["name"].as_str().expect("name");
            let value = match (e["value"].as_str(), name) {
                (Some(v), _) => v.to_string(),
                (None, "ACCESS_KEY") => s3::ACCESS.to_string(),
                (None, "SECRET_KEY") => s3::SECRET.to_string(),
                (None, other) => panic!("unexpected secret {other}: {e}"),
            };
            run.arg("-e").arg(format!("{name}={value}"));
        }
        let cmd: Vec<String> =
            serde_json::from_value(spec["container"]["command"].clone()).expect("cmd");
        run.arg(image).args(&cmd);
        run.output().expect("docker run")
    }
}
