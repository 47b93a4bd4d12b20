//! The workflow's completion hooks (`on_complete`, `on_failure` in the header document): a
//! command run here with `status.json` on stdin, and/or a webhook the run's status is POSTed
//! to. The webhook URL is a secret: only the name of the variable holding it is ever written
//! (events, errors), never the URL.

use super::RunFolder;
use crate::workflow::Workflow;
use hoist::core::{InputError, SharedEnv};
use serde_json::{Value, json};
use std::time::Duration;

/// How long a webhook may take, connection included.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Refuse a run whose hooks name a webhook variable that is not set: found out at the end, the
/// run's outcome would go unreported.
pub(super) fn check_webhook_envs(wf: &Workflow, env: &SharedEnv) -> Result<(), InputError> {
    let missing = wf.missing_webhook_envs(&|name| env.get(name));
    let Some(&(_, first)) = missing.first() else {
        return Ok(());
    };
    let message = missing
        .iter()
        .map(|(field, name)| format!("{field}.webhook_env: {name} is not set"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut names: Vec<&str> = missing.iter().map(|&(_, n)| n).collect();
    names.dedup();
    let exports = names
        .iter()
        .map(|n| format!("export {n}=https://…"))
        .collect::<Vec<_>>()
        .join("; ");
    let hint = if names.len() == 1 {
        format!(
            "export {first}=https://… (the URL stays in the environment; the run folder keeps only its name)"
        )
    } else {
        format!(
            "{exports} (the URLs stay in the environment; the run folder keeps only their names)"
        )
    };
    Err(InputError::new(message, hint))
}

/// Run the hook for the run's outcome (`ok`: every job completed), recording each outcome
/// in the run folder's events.
pub(super) async fn hooks(wf: &Workflow, folder: &RunFolder, ok: bool, env: &SharedEnv) {
    let (event, hook) = if ok {
        ("on_complete", &wf.on_complete)
    } else {
        ("on_failure", &wf.on_failure)
    };
    let Some(hook) = hook else { return };
    let status = std::fs::read(folder.dir().join("status.json")).unwrap_or_default();
    if let Some(cmd) = &hook.command {
        let code = command(cmd, folder, &status);
        let _ = folder.event(&json!({
            "time": hoist::core::now(), "event": event, "exit_code": code,
        }));
    }
    if let Some(name) = &hook.webhook_env {
        let outcome = match env.get(name) {
            // Checked at the start; the variable can only be gone if the source changed.
            None => Err(format!("{name} is not set")),
            Some(url) => {
                let body = webhook_body(wf, folder, ok, &status);
                post_webhook(&url, &body).await
            }
        };
        let mut record = json!({"time": hoist::core::now(), "event": event, "webhook": name});
        match outcome {
            Ok(code) => record["http_status"] = json!(code),
            Err(e) => record["error"] = json!(e),
        }
        let _ = folder.event(&record);
    }
}

/// The hook's command, in the run folder with `status` on stdin; its exit code.
fn command(cmd: &str, folder: &RunFolder, status: &[u8]) -> Option<i32> {
    let child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(folder.dir())
        .env("HOIST_RUN_DIR", folder.dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let ran = child.and_then(|mut c| {
        if let Some(mut i) = c.stdin.take() {
            use std::io::Write;
            // A command that does not read its stdin closes the pipe; that is its choice.
            let _ = i.write_all(status);
        }
        c.wait()
    });
    ran.ok().and_then(|s| s.code())
}

/// What a webhook receives: the workflow, its end state, its folder and `status.json` (null
/// when the file cannot be read as JSON).
fn webhook_body(wf: &Workflow, folder: &RunFolder, ok: bool, status: &[u8]) -> Value {
    json!({
        "workflow": wf.name,
        "state": if ok { "complete" } else { "failed" },
        "run_dir": folder.dir().display().to_string(),
        "status": serde_json::from_slice::<Value>(status).unwrap_or(Value::Null),
    })
}

/// POST `body` as JSON to `url`; the HTTP status, or why no answer came. The error never
/// contains the URL.
pub(crate) async fn post_webhook(url: &str, body: &Value) -> Result<u16, String> {
    let client = reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .user_agent(concat!("hoist/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| describe(e, url))?;
    let resp = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| describe(e, url))?;
    Ok(resp.status().as_u16())
}

/// A reqwest error as text without the URL: reqwest puts the URL in its errors, and lower
/// layers may quote it too, so it is also scrubbed from the causes.
fn describe(e: reqwest::Error, url: &str) -> String {
    let what = if e.is_timeout() {
        format!("no answer within {} s", WEBHOOK_TIMEOUT.as_secs())
    } else if e.is_builder() {
        "the URL is not a valid http(s) URL".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "the request failed".to_string()
    };
    let e = e.without_url();
    let mut causes = vec![e.to_string()];
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    let mut text = format!("{what}: {}", causes.join(": "));
    // The URL as written, as reqwest normalises it, and its path and query (where webhook
    // services put the token).
    let mut secrets = vec![url.to_string()];
    if let Ok(u) = reqwest::Url::parse(url) {
        secrets.push(u.to_string());
        secrets.push(u.path().to_string());
        secrets.extend(u.query().map(str::to_string));
    }
    for s in secrets.iter().filter(|s| s.len() > 1) {
        text = text.replace(s.as_str(), "<url>");
    }
    text
}

#[cfg(test)]
mod tests;
