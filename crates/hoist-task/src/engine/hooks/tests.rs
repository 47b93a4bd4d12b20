//! Hook tests: the webhook POST against a one-request HTTP server on loopback, the events it
//! leaves, and that the URL appears nowhere hoist writes.

use super::*;
use crate::workflow::Hook;
use hoist::core::MapEnv;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;

const VAR: &str = "HOIST_TEST_WEBHOOK";

/// One HTTP request as the server saw it: the request line and headers, and the body.
struct Request {
    head: String,
    body: Vec<u8>,
}

/// A server on 127.0.0.1 that answers one request with 200; its URL (with a secret-looking
/// path) and the request it got.
fn serve_once() -> (String, JoinHandle<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/hooks/SECRET-TOKEN",
        listener.local_addr().expect("addr")
    );
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        // A bound on a client that never writes, so a broken test fails instead of hanging.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read head");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let length = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .expect("content-length");
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("read body");
        let mut stream = stream;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .expect("answer");
        Request { head, body }
    });
    (url, server)
}

fn workflow(on_complete: Option<Hook>, on_failure: Option<Hook>) -> Workflow {
    Workflow {
        name: Some("wf".into()),
        on_complete,
        on_failure,
        max_parallel: None,
        tasks: Vec::new(),
        order: Vec::new(),
    }
}

fn webhook(command: Option<&str>) -> Option<Hook> {
    Some(Hook {
        command: command.map(str::to_string),
        webhook_env: Some(VAR.into()),
    })
}

fn env_with(url: Option<&str>) -> SharedEnv {
    Arc::new(MapEnv(
        url.map(|u| (VAR.to_string(), u.to_string()))
            .into_iter()
            .collect(),
    ))
}

/// The run folder's events, without their times.
fn events(folder: &RunFolder) -> Vec<Value> {
    std::fs::read_to_string(folder.dir().join("status_events.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("an event is JSON");
            v.as_object_mut().expect("object").remove("time");
            v
        })
        .collect()
}

/// Every file the run folder holds, as one text.
fn folder_text(folder: &RunFolder) -> String {
    std::fs::read_dir(folder.dir())
        .expect("ls")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).unwrap_or_default())
        .collect()
}

fn run_folder(dir: &tempfile::TempDir, state: &str) -> RunFolder {
    let folder = RunFolder::create(&dir.path().join("run")).expect("folder");
    folder
        .write_json("status.json", &json!({"state": state, "jobs": 2}))
        .expect("status");
    folder
}

#[tokio::test]
async fn a_failed_run_posts_its_status_and_records_the_answer() {
    let (url, server) = serve_once();
    let dir = tempfile::tempdir().expect("tmp");
    let folder = run_folder(&dir, "failed");
    let wf = workflow(None, webhook(None));
    hooks(&wf, &folder, false, &env_with(Some(&url))).await;

    let req = server.join().expect("server");
    assert!(
        req.head
            .starts_with("POST /hooks/SECRET-TOKEN HTTP/1.1\r\n"),
        "{}",
        req.head
    );
    assert!(
        req.head
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        req.head
    );
    let body: Value = serde_json::from_slice(&req.body).expect("a JSON body");
    assert_eq!(
        body,
        json!({
            "workflow": "wf",
            "state": "failed",
            "run_dir": folder.dir().display().to_string(),
            "status": {"state": "failed", "jobs": 2},
        })
    );
    assert_eq!(
        events(&folder),
        [json!({"event": "on_failure", "webhook": VAR, "http_status": 200})]
    );
    assert!(!folder_text(&folder).contains("SECRET-TOKEN"));
}

#[tokio::test]
async fn a_complete_run_runs_the_command_and_posts_complete() {
    let (url, server) = serve_once();
    let dir = tempfile::tempdir().expect("tmp");
    let folder = run_folder(&dir, "complete");
    let wf = workflow(
        webhook(Some("cat > got.json")),
        webhook(Some("touch wrong")),
    );
    hooks(&wf, &folder, true, &env_with(Some(&url))).await;

    let body: Value = serde_json::from_slice(&server.join().expect("server").body).expect("json");
    assert_eq!(body["state"], "complete");
    assert_eq!(body["workflow"], "wf");
    let got: Value = serde_json::from_str(
        &std::fs::read_to_string(folder.dir().join("got.json")).expect("the command ran"),
    )
    .expect("status on stdin");
    assert_eq!(got["state"], "complete");
    assert!(
        !folder.dir().join("wrong").exists(),
        "on_failure did not run"
    );
    assert_eq!(
        events(&folder),
        [
            json!({"event": "on_complete", "exit_code": 0}),
            json!({"event": "on_complete", "webhook": VAR, "http_status": 200}),
        ]
    );
}

#[tokio::test]
async fn an_unreachable_webhook_is_recorded_without_its_url() {
    // A port nothing listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}/hooks/SECRET-TOKEN?key=SECRET-KEY");
    let err = post_webhook(&url, &json!({})).await.expect_err("no server");
    assert!(err.starts_with("could not connect"), "{err}");
    assert!(!err.contains("SECRET"), "{err}");

    let dir = tempfile::tempdir().expect("tmp");
    let folder = run_folder(&dir, "failed");
    hooks(
        &workflow(None, webhook(None)),
        &folder,
        false,
        &env_with(Some(&url)),
    )
    .await;
    let ev = events(&folder);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (&ev[0]["event"], &ev[0]["webhook"]),
        (&json!("on_failure"), &json!(VAR))
    );
    let recorded = ev[0]["error"].as_str().expect("an error is recorded");
    assert!(recorded.starts_with("could not connect"), "{recorded}");
    assert!(!folder_text(&folder).contains("SECRET"));
}

#[test]
fn a_missing_webhook_variable_stops_the_run_before_it_starts() {
    let wf = workflow(None, webhook(None));
    let e = check_webhook_envs(&wf, &env_with(None)).expect_err("unset");
    assert_eq!(
        e.message,
        format!("on_failure.webhook_env: {VAR} is not set")
    );
    assert_eq!(
        e.hint,
        format!(
            "export {VAR}=https://… (the URL stays in the environment; the run folder keeps \
             only its name)"
        )
    );
    assert!(check_webhook_envs(&wf, &env_with(Some("http://127.0.0.1:9/h"))).is_ok());
    let commands_only = workflow(
        Some(Hook {
            command: Some("true".into()),
            webhook_env: None,
        }),
        None,
    );
    assert!(check_webhook_envs(&commands_only, &env_with(None)).is_ok());
}
