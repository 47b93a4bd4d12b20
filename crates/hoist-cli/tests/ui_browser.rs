//! `hoist ui` in a real browser: headless Chromium driven over the DevTools protocol loads
//! the jobs table (local and docker jobs), opens a job and sees its log grow, cancels it
//! through the confirmation and sees it turn Canceled, and saves screenshots of each page
//! under target/ui-screenshots/ (README's pictures).

mod harness;
mod ui_common;
use base64::Engine;
use harness::docker::{IMG, denv};
use harness::*;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};
use ui_common::Ui;

/// Headless Chromium with a throwaway profile, killed when dropped.
struct Chromium {
    child: Child,
    _profile: tempfile::TempDir,
    port: u16,
}

impl Chromium {
    fn start() -> Chromium {
        let profile = tempfile::tempdir().expect("profile dir");
        let spawned = Command::new("chromium")
            .args([
                "--headless=new",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                // Tests run as root in containers: Chromium's sandbox needs user namespaces.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--hide-scrollbars",
                "--window-size=1280,860",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "chromium is not installed: apt-get install chromium (scripts/testbed.sh installs it)"
            ),
            Err(e) => panic!("cannot start chromium: {e}"),
        };
        // With port 0 Chromium picks one and writes it as the first line of this file.
        let file = profile.path().join("DevToolsActivePort");
        let mut port = 0;
        wait_for("Chromium's DevTools port", || {
            port = std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
                .unwrap_or(0);
            port != 0
        });
        Chromium {
            child,
            _profile: profile,
            port,
        }
    }

    /// The DevTools connection of the page Chromium opened.
    fn page(&self) -> Cdp {
        let list: Vec<Value> =
            reqwest::blocking::get(format!("http://127.0.0.1:{}/json/list", self.port))
                .and_then(|r| r.json())
                .expect("DevTools /json/list");
        let ws = list
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target");
        let (socket, _) = tungstenite::connect(ws).expect("DevTools websocket");
        // A browser that stops answering fails the test instead of hanging it.
        if let MaybeTlsStream::Plain(tcp) = socket.get_ref() {
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(60)))
                .expect("read timeout");
        }
        let mut cdp = Cdp {
            ws: socket,
            next: 0,
            events: VecDeque::new(),
            replies: HashMap::new(),
        };
        cdp.call("Page.enable", json!({}));
        cdp.call("Runtime.enable", json!({}));
        cdp
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DevTools protocol session on one page: commands answered by id, events queued.
struct Cdp {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next: u64,
    events: VecDeque<Value>,
    replies: HashMap<u64, Value>,
}

impl Cdp {
    fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next += 1;
        let msg = json!({"id": self.next, "method": method, "params": params});
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send to DevTools");
        self.next
    }

    /// The next message from the browser, filed as a reply or an event.
    fn pump(&mut self) {
        let msg = self.ws.read().expect("read from DevTools");
        let Message::Text(text) = msg else { return };
        let v: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
        match v["id"].as_u64() {
            Some(id) => {
                self.replies.insert(id, v);
            }
            None => self.events.push_back(v),
        }
    }

    /// The answer to command `id`, or the browser's refusal.
    fn answer(&mut self, id: u64) -> Result<Value, Value> {
        loop {
            if let Some(v) = self.replies.remove(&id) {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
            self.pump();
        }
    }

    fn reply(&mut self, id: u64) -> Value {
        self.answer(id)
            .unwrap_or_else(|e| panic!("DevTools refused: {e}"))
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        self.reply(id)
    }

    /// Wait for the event `method` (ones that came earlier included).
    fn event(&mut self, method: &str) -> Value {
        loop {
            if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
                return self
                    .events
                    .remove(i)
                    .map(|e| e["params"].clone())
                    .unwrap_or_default();
            }
            self.pump();
        }
    }

    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Load `url` and wait until it is the page shown, fully loaded (a load event alone could
    /// be an earlier page's: live pages reload themselves).
    fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.until(
            &format!("{url} to load"),
            &format!(
                "location.href === {} && document.readyState === 'complete'",
                json!(url)
            ),
        );
    }

    /// Evaluate `expr` until it is true (the page changes by itself: live updates, and
    /// reloads, during which there is no page to ask: that counts as not yet).
    fn until(&mut self, what: &str, expr: &str) {
        wait_for(what, || {
            let id = self.send(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true}),
            );
            self.answer(id)
                .is_ok_and(|r| r["result"]["value"] == json!(true))
        });
    }

    fn screenshot(&mut self, name: &str) {
        let mut r = Value::Null;
        wait_for(&format!("a screenshot for {name}"), || {
            let id = self.send("Page.captureScreenshot", json!({"format": "png"}));
            self.answer(id).map(|v| r = v).is_ok()
        });
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        let dir = screenshots();
        std::fs::create_dir_all(&dir).expect("target/ui-screenshots");
        std::fs::write(dir.join(name), png).expect("write the screenshot");
    }
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots")
}

#[test]
fn the_dashboard_in_a_real_browser() {
    let e = denv();
    let docker = e.submit(&[
        "--platform",
        "docker",
        "--image",
        IMG,
        "--name",
        "docker-hello",
        "--",
        "sh",
        "-c",
        "echo hello from docker",
    ]);
    let done = e.submit(&["--name", "prep-data", "--", "echo", "ready"]);
    let failed = e.submit(&[
        "--name",
        "train-oom",
        "--",
        "sh",
        "-c",
        "echo 'RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB'; exit 1",
    ]);
    let stop = e.path("stop");
    let grower = e.submit(&[
        "--name",
        "train-long",
        "--",
        "sh",
        "-c",
        &format!(
            "i=0; while [ ! -e {} ]; do i=$((i+1)); echo \"step $i loss 0.$((1000 - i))\"; sleep 0.2; done",
            stop.display()
        ),
    ]);
    let wf = "name: sweep\n---\nname: prep\nrun: echo prep\n---\nname: train\nneeds: [prep]\nmatrix:\n  lr: [0.1, 0.01]\n  bs: [8, 16]\nrun: echo \"lr=$lr bs=$bs\"\n";
    std::fs::write(e.path("wf.yaml"), wf).expect("workflow file");
    let mut launch = e.cmd(&["launch", "wf.yaml"]);
    launch.current_dir(e.dir.path());
    assert!(launch.status().expect("hoist launch").success());
    e.wait_status(&docker, "Complete");
    e.wait_status(&done, "Complete");
    e.wait_status(&failed, "Error");
    e.wait_status(&grower, "Running");

    let ui = Ui::start(&e);
    let chrome = Chromium::start();
    let mut page = chrome.page();

    // The jobs table, from the printed URL (its token leaves the cookie later pages use).
    page.open(&ui.url);
    for id in [&docker, &done, &failed, &grower] {
        page.until(
            &format!("row of {id}"),
            &format!("!!document.querySelector('tr[data-id=\"{id}\"]')"),
        );
    }
    let platforms = page.eval(
        "Array.from(document.querySelectorAll('tr[data-id] td:nth-child(3)')).map(td => td.textContent)",
    );
    let platforms: Vec<&str> = platforms
        .as_array()
        .expect("platform cells")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        platforms.contains(&"docker") && platforms.contains(&"local"),
        "{platforms:?}"
    );
    page.until(
        "live updates connected",
        "document.getElementById('live').classList.contains('on')",
    );
    page.screenshot("jobs.png");

    // A job's page: its log grows while it runs.
    page.open(&ui.at(&format!("/jobs/{grower}")));
    let steps = "(document.getElementById('log').textContent.match(/step \\d+/g) || []).length";
    page.until("the first steps", &format!("{steps} >= 3"));
    let seen = page.eval(steps).as_u64().expect("a count");
    page.until("the log to grow", &format!("{steps} > {seen} + 3"));
    page.screenshot("job.png");

    // Cancel: the confirmation is accepted, and the job turns Canceled.
    let click = page.send(
        "Runtime.evaluate",
        json!({"expression": "document.getElementById('cancel').click()"}),
    );
    let dialog = page.event("Page.javascriptDialogOpening");
    assert_eq!(dialog["type"], "confirm");
    assert!(
        dialog["message"]
            .as_str()
            .is_some_and(|m| m.contains("train-long")),
        "{dialog}"
    );
    page.call("Page.handleJavaScriptDialog", json!({"accept": true}));
    // The click's own answer may never come: the page it ran in is replaced by the post.
    let _ = click;
    page.until(
        "the job to turn Canceled",
        // The page rendered after the end: no cancel button (a live page may show the
        // status a moment before it reloads itself).
        "document.getElementById('status') && document.getElementById('status').textContent === 'Canceled' && !document.getElementById('cancel') && document.readyState === 'complete'",
    );
    assert_eq!(e.status(&grower), "Canceled");
    page.screenshot("job-canceled.png");

    // A failed job's why, with its evidence.
    page.open(&ui.at(&format!("/jobs/{failed}")));
    let text = page.eval("document.body.innerText");
    assert!(
        text.as_str().is_some_and(|t| t.contains("out of memory")),
        "{text}"
    );
    page.screenshot("job-failed.png");

    page.open(&ui.at("/runs"));
    page.until(
        "the run",
        "document.querySelectorAll('#runs tbody tr').length === 1",
    );
    page.screenshot("runs.png");
    let run = page.eval("document.querySelector('#runs a').href");
    page.open(run.as_str().expect("the run's link"));
    page.until("the matrix grid", "!!document.querySelector('table.grid')");
    page.screenshot("run.png");

    page.open(&ui.at("/platforms"));
    page.until(
        "the docker card",
        "!!document.getElementById('platform-docker')",
    );
    page.screenshot("platforms.png");
    for shot in ["jobs.png", "job.png", "runs.png", "platforms.png"] {
        let len = std::fs::metadata(screenshots().join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 1000, "{shot} was saved");
    }
}
