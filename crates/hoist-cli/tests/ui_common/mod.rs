//! A running `hoist ui` for the dashboard's tests: the real binary on a free loopback port,
//! with this test's store, and a client that carries its token.
#![allow(dead_code)]

use crate::harness::Env;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::Duration;

pub use reqwest::StatusCode;
pub use reqwest::blocking::Response;

pub struct Ui {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The URL it printed (`…/?token=T`).
    pub url: String,
    pub token: String,
    pub client: reqwest::blocking::Client,
}

impl Ui {
    /// Start `hoist ui --listen 127.0.0.1:0` on `e`'s store and read the URL it prints.
    pub fn start(e: &Env) -> Ui {
        Self::start_with(e, &[])
    }

    pub fn start_with(e: &Env, extra: &[&str]) -> Ui {
        let mut args = vec!["ui", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut c = e.cmd(&args);
        // Quick rounds of the shared refresh loop: the tests wait on what it tells.
        c.env("HOIST_POLL_MAX_MS", "200")
            .env_remove("HOIST_UI_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn hoist ui");
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        BufReader::new(out)
            .read_line(&mut line)
            .expect("read the URL");
        if line.trim().is_empty() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("hoist ui printed no URL: {err}");
        }
        let url = line.trim().to_string();
        let (base, token) = url.split_once("/?token=").expect("URL with ?token=");
        Ui {
            child,
            base: base.to_string(),
            token: token.to_string(),
            url: url.clone(),
            // The bound stops a hung test; no test relies on it for timing.
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET with the token in the Authorization header.
    pub fn get(&self, path: &str) -> Response {
        self.client
            .get(self.at(path))
            .bearer_auth(&self.token)
            .send()
            .expect("GET")
    }

    /// GET with no token at all.
    pub fn get_anon(&self, path: &str) -> Response {
        self.client.get(self.at(path)).send().expect("GET")
    }

    /// GET, expecting 200, the body as text.
    pub fn text(&self, path: &str) -> String {
        let r = self.get(path);
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.text().expect("body")
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        serde_json::from_str(&self.text(path)).expect("json body")
    }

    /// The CSRF token every authorized answer carries.
    pub fn csrf(&self) -> String {
        self.get("/api/runs")
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .expect("x-csrf-token header")
            .to_string()
    }

    pub fn post(&self, path: &str, csrf: Option<&str>) -> Response {
        let mut r = self.client.post(self.at(path)).bearer_auth(&self.token);
        if let Some(t) = csrf {
            r = r.header("X-CSRF-Token", t);
        }
        r.send().expect("POST")
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An event stream, read line by line (one reader for the whole stream: nothing read ahead
/// is lost between two waits).
pub fn events(r: Response) -> BufReader<Response> {
    BufReader::new(r)
}

/// Read server-sent events until one named `name` whose data satisfies `want`; returns that
/// data.
pub fn event_until(
    lines: &mut impl BufRead,
    name: &str,
    mut want: impl FnMut(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut event = String::new();
    loop {
        let mut line = String::new();
        let n = lines.read_line(&mut line).expect("read the event stream");
        assert!(
            n > 0,
            "the event stream ended before the awaited {name} event"
        );
        let line = line.trim_end_matches(['\r', '\n']);
        if let Some(e) = line.strip_prefix("event: ") {
            event = e.to_string();
        } else if let Some(d) = line.strip_prefix("data: ")
            && event == name
        {
            let v: serde_json::Value = serde_json::from_str(d).expect("event data is JSON");
            if want(&v) {
                return v;
            }
        } else if line.is_empty() {
            event.clear();
        }
    }
}
