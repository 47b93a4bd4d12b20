//! `hoist ui` over HTTP: the real binary on a loopback port, a store with local jobs, every
//! route's answer, the token, the CSRF token of cancel, escaping, secrets, live events.

mod harness;
mod ui_common;
use harness::*;
use std::io::Read;
use ui_common::*;

/// A job that prints `first` and holds until `go` exists, then prints `after`.
fn held_job(e: &Env, name: &str, first: &str, go: &std::path::Path, after: &str) -> String {
    let script = format!(
        "echo '{first}'; while [ ! -e {} ]; do sleep 0.02; done; echo '{after}'",
        go.display()
    );
    e.submit(&["--name", name, "--", "sh", "-c", &script])
}

#[test]
fn every_route_answers_and_needs_the_token() {
    let e = Env::new();
    let ok = e.submit(&["--name", "fine", "--", "echo", "done"]);
    let bad = e.submit(&[
        "--name",
        "broken",
        "--",
        "sh",
        "-c",
        "echo 'Traceback: boom' >&2; exit 3",
    ]);
    e.wait_status(&ok, "Complete");
    e.wait_status(&bad, "Error");
    let ui = Ui::start(&e);
    let short = &bad[..8];
    let routes = [
        "/".to_string(),
        "/?status=Error&platform=local&name=brok".into(),
        format!("/jobs/{short}"),
        "/runs".into(),
        "/platforms".into(),
        "/static/app.css".into(),
        "/static/app.js".into(),
        "/api/jobs".into(),
        format!("/api/jobs/{short}"),
        format!("/api/jobs/{short}/why"),
        format!("/api/jobs/{short}/logs?tail=5"),
        "/api/runs".into(),
        "/api/platforms".into(),
    ];
    for r in &routes {
        assert_eq!(ui.get(r).status(), StatusCode::OK, "GET {r}");
        assert_eq!(
            ui.get_anon(r).status(),
            StatusCode::UNAUTHORIZED,
            "GET {r} without the token"
        );
        let wrong = ui
            .client
            .get(ui.at(r))
            .bearer_auth("not-the-token")
            .send()
            .expect("GET");
        assert_eq!(
            wrong.status(),
            StatusCode::UNAUTHORIZED,
            "GET {r} with a wrong token"
        );
    }
    for (r, code) in [
        ("/jobs/00000000", StatusCode::NOT_FOUND),
        ("/api/jobs/00000000", StatusCode::NOT_FOUND),
        ("/api/runs/no-such-run", StatusCode::NOT_FOUND),
        ("/runs/no-such-run/20260101", StatusCode::NOT_FOUND),
        ("/no/such/page", StatusCode::NOT_FOUND),
        ("/?status=Sleeping", StatusCode::BAD_REQUEST),
        ("/?platform=nowhere", StatusCode::BAD_REQUEST),
        ("/?page=0", StatusCode::BAD_REQUEST),
        ("/api/jobs/x/cancel", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        assert_eq!(ui.get(r).status(), code, "GET {r}");
    }
    assert_eq!(
        ui.get_anon("/api/events").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ui.post(&format!("/api/jobs/{short}/cancel"), None).status(),
        StatusCode::FORBIDDEN
    );

    // The printed URL works alone, and leaves a cookie that makes plain links work.
    let first = ui.client.get(&ui.url).send().expect("GET the printed URL");
    assert_eq!(first.status(), StatusCode::OK);
    let cookie = first
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie after ?token=")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("name=value");
    let linked = ui
        .client
        .get(ui.at(&format!("/jobs/{short}")))
        .header("Cookie", pair)
        .send()
        .expect("GET with the cookie");
    assert_eq!(linked.status(), StatusCode::OK);

    // The API's bodies are the CLI's --json views.
    let api: Vec<serde_json::Value> = serde_json::from_value(ui.json("/api/jobs")).expect("list");
    assert_eq!(api, e.ls(), "/api/jobs is hoist ls --json");
    let show = e.run(&["show", &bad, "--json"]);
    let cli: serde_json::Value = serde_json::from_str(&show.stdout()).expect("show json");
    let web = ui.json(&format!("/api/jobs/{short}"));
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object().expect("object").keys().cloned().collect()
    };
    assert_eq!(keys(&web), keys(&cli), "/api/jobs/ID is hoist show --json");
    assert_eq!(web["events"], cli["events"]);
    let why = e.run(&["why", &bad, "--json"]);
    let cli_why: serde_json::Value = serde_json::from_str(&why.stdout()).expect("why json");
    assert_eq!(ui.json(&format!("/api/jobs/{short}/why")), cli_why);
    assert_eq!(
        ui.text(&format!("/api/jobs/{short}/logs?tail=5")),
        e.run(&["logs", &bad, "--tail", "5"]).stdout()
    );
    let runs = e.run(&["runs", "--json"]);
    assert_eq!(
        ui.json("/api/runs"),
        serde_json::from_str::<serde_json::Value>(&runs.stdout()).expect("runs json")
    );
    let plats = e.run(&["platforms", "--json"]);
    assert_eq!(
        ui.json("/api/platforms"),
        serde_json::from_str::<serde_json::Value>(&plats.stdout()).expect("platforms json")
    );

    // The job's page has the why analysis with its evidence, and the filters filter.
    let page = ui.text(&format!("/jobs/{short}"));
    assert!(
        page.contains("ERR_PROGRAM") || page.contains("exit code 3"),
        "{page}"
    );
    let filtered = ui.text("/?status=Error");
    assert!(
        filtered.contains(&bad) && !filtered.contains(&ok),
        "{filtered}"
    );
    let named = ui.text("/?name=fin");
    assert!(named.contains(&ok) && !named.contains(&bad), "{named}");
}

#[test]
fn the_jobs_table_pages_newest_first() {
    let e = Env::new();
    let ids: Vec<String> = (0..3)
        .map(|i| e.submit(&["--name", &format!("n{i}"), "--", "true"]))
        .collect();
    let ui = Ui::start(&e);
    let page2 = ui.text("/?per=1&page=2");
    assert!(page2.contains(&ids[1]), "the middle job on page 2");
    assert!(!page2.contains(&ids[0]) && !page2.contains(&ids[2]));
    assert!(
        page2.contains("page=1&#38;per=1") && page2.contains("page=3&#38;per=1"),
        "{page2}"
    );
    let last = ui.text("/?per=1&page=3");
    assert!(last.contains(&ids[0]) && !last.contains("rel=\"next\""));
    let api = ui.json("/api/jobs?per=2&page=1");
    let got: Vec<&str> = api
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|j| j["job_id"].as_str())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()], "newest first");
}

#[test]
fn cancel_needs_the_csrf_token() {
    let e = Env::new();
    let go = e.path("never");
    let id = held_job(&e, "victim", "up", &go, "unreachable");
    e.wait_status(&id, "Running");
    let ui = Ui::start(&e);
    let path = format!("/api/jobs/{id}/cancel");
    assert_eq!(ui.post(&path, None).status(), StatusCode::FORBIDDEN);
    assert_eq!(
        ui.post(&path, Some("0123abcd")).status(),
        StatusCode::FORBIDDEN
    );
    let form_wrong = ui
        .client
        .post(ui.at(&path))
        .bearer_auth(&ui.token)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("csrf=0123abcd")
        .send()
        .expect("POST");
    assert_eq!(form_wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(e.status(&id), "Running", "a refused cancel changes nothing");

    let done = ui.post(&path, Some(&ui.csrf()));
    assert_eq!(done.status(), StatusCode::OK);
    let v: serde_json::Value = done.json().expect("hoist status --json");
    assert_eq!(v["status"], "Canceled", "{v}");
    assert_eq!(e.status(&id), "Canceled");

    // The page's button posts a form: the answer sends the browser back to the job.
    let other = held_job(&e, "victim2", "up", &go, "unreachable");
    e.wait_status(&other, "Running");
    let form = ui
        .client
        .post(ui.at(&format!("/api/jobs/{other}/cancel")))
        .bearer_auth(&ui.token)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", ui.csrf()))
        .send()
        .expect("POST form");
    assert_eq!(form.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        form.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/jobs/{other}").as_str())
    );
    assert_eq!(e.status(&other), "Canceled");
}

#[test]
fn hostile_text_is_escaped_and_secret_values_never_shown() {
    let e = Env::new();
    let secret = "s3cr3t-value-never-shown-91d7";
    let o = e
        .cmd(&[
            "run",
            "-d",
            "--name",
            "hostile",
            "-e",
            "WANDB_API_KEY",
            "--",
            "sh",
            "-c",
            "echo '<script>alert(1)</script>'; echo \"key is $WANDB_API_KEY\" | wc -c",
        ])
        .env("WANDB_API_KEY", secret)
        .output()
        .expect("submit");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    e.wait_status(&id, "Complete");
    let ui = Ui::start(&e);
    let page = ui.text(&format!("/jobs/{id}"));
    assert!(
        !page.contains("<script>alert"),
        "the log line is escaped: {page}"
    );
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{page}"
    );
    assert!(page.contains("WANDB_API_KEY"), "the secret's name is shown");
    for p in [
        "/".to_string(),
        format!("/jobs/{id}"),
        "/runs".into(),
        "/platforms".into(),
        "/api/jobs".into(),
        format!("/api/jobs/{id}"),
        format!("/api/jobs/{id}/why"),
        format!("/api/jobs/{id}/logs"),
        "/api/platforms".into(),
    ] {
        let body = ui.text(&p);
        assert!(!body.contains(secret), "{p} shows the secret's value");
    }
}

#[test]
fn events_tell_status_changes_and_follow_the_log() {
    let e = Env::new();
    let go = e.path("go");
    let id = held_job(&e, "held", "before", &go, "after");
    e.wait_status(&id, "Running");
    let ui = Ui::start(&e);
    // Both streams are open (their answers' headers arrived) before anything changes.
    let changes = ui.get(&format!("/api/events?job={id}"));
    assert_eq!(changes.status(), StatusCode::OK);
    assert!(
        changes
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    );
    let mut changes = events(changes);
    let log = ui.get(&format!("/api/jobs/{id}/logs?follow=1"));
    assert_eq!(log.status(), StatusCode::OK);
    let mut log = events(log);
    let mut seen = String::new();
    event_until(&mut log, "log", |v| {
        seen.push_str(v.as_str().unwrap_or_default());
        seen.contains("before\n")
    });
    std::fs::write(&go, "").expect("go");
    event_until(&mut log, "log", |v| {
        seen.push_str(v.as_str().unwrap_or_default());
        seen.contains("after\n")
    });
    let ended = event_until(&mut changes, "job", |v| v["status"] == "Complete");
    assert_eq!(ended["job_id"], id.as_str());
    assert_eq!(ended["exit_code"], 0);
    // The log stream ends with the job.
    let mut rest = String::new();
    log.read_to_string(&mut rest)
        .expect("the rest of the log stream");
    assert!(rest.contains("event: end"), "{rest}");
}

#[test]
fn listening_beyond_loopback_needs_a_chosen_token() {
    let e = Env::new();
    let o = e.run(&["ui", "--listen", "0.0.0.0:0"]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(o.stderr().contains("--token"), "{}", o.stderr());
    let short = e.run(&["ui", "--listen", "127.0.0.1:0", "--token", "abc"]);
    assert_eq!(short.code(), 2, "{}", short.stderr());
    let mut c = e.cmd(&[
        "ui",
        "--listen",
        "0.0.0.0:0",
        "--token",
        "a-chosen-token-123",
    ]);
    let mut child = Killed(
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let mut err = child.0.stderr.take().expect("stderr");
    let said = read_until(&mut err, "Ctrl-C stops it");
    assert!(said.contains("warning"), "{said}");
    assert!(said.contains("?token=a-chosen-token-123"), "{said}");
}

/// A server that is stopped when the test ends, pass or fail.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_run_shows_its_dag_and_its_matrix_as_a_grid() {
    let e = Env::new();
    let wf = "name: grid\n---\nname: prep\nrun: echo prep\n---\nname: train\nneeds: [prep]\nmatrix:\n  lr: [0.1, 0.01]\n  bs: [8, 16]\nrun: echo \"lr=$lr bs=$bs\"\n";
    std::fs::write(e.path("wf.yaml"), wf).expect("workflow file");
    let mut c = e.cmd(&["launch", "wf.yaml"]);
    c.current_dir(e.dir.path());
    let o = Out(c.output().expect("hoist launch"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let ui = Ui::start(&e);
    let runs = ui.json("/api/runs");
    let id = runs[0]["id"].as_str().expect("a run").to_string();
    let list = ui.text("/runs");
    assert!(list.contains(&format!("/runs/{id}")), "{list}");
    let page = ui.text(&format!("/runs/{id}"));
    assert!(
        page.contains("class=\"grid\""),
        "the matrix as a grid: {page}"
    );
    assert!(
        page.contains("bs \\ lr") || page.contains("lr \\ bs"),
        "{page}"
    );
    assert!(page.contains("needs prep"), "{page}");
    assert_eq!(
        page.matches("st-complete").count(),
        6,
        "the run and its 5 jobs: {page}"
    );
    let cli = e.run(&["runs", "show", &id, "--json"]);
    assert_eq!(
        ui.json(&format!("/api/runs/{id}")),
        serde_json::from_str::<serde_json::Value>(&cli.stdout()).expect("runs show json")
    );
    let jobs = ui.text(&format!("/?run={id}"));
    assert_eq!(jobs.matches("<tr data-id=").count(), 5, "{jobs}");
}
