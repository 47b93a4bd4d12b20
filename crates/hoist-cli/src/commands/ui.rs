//! `hoist ui`: the dashboard server (hoist-web) on this store. The only output is the URL,
//! with its token, once the socket listens.

use super::input;
use crate::cli::UiArgs;
use hoist::Hoist;
use hoist::core::InputError;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

pub async fn run(h: Hoist, a: UiArgs) -> anyhow::Result<i32> {
    let loopback = a.listen.ip().is_loopback();
    if !loopback && a.token.is_none() {
        return Err(input(InputError::new(
            format!(
                "refusing to serve the dashboard on {} without a token of your choosing: anyone who can reach that address could try to use it",
                a.listen
            ),
            "serve on loopback (the default, 127.0.0.1:8421) and reach it through ssh -L, or give --token T (or HOIST_UI_TOKEN)",
        )));
    }
    let token = a.token.unwrap_or_else(hoist_web::random_token);
    hoist_web::check_token(&token).map_err(|e| {
        input(InputError::new(
            e.to_string(),
            "pick one of letters, digits and - . _ ~, at least 8 long",
        ))
    })?;
    if !loopback {
        eprintln!(
            "hoist: warning: the dashboard listens on {}, beyond this machine; whoever has the token can see every job and cancel them, over plain HTTP",
            a.listen
        );
    }
    let open = a.open;
    let opts = hoist_web::UiOptions {
        listen: a.listen,
        token: token.clone(),
        refresh: None,
    };
    hoist_web::serve(Arc::new(h), opts, move |addr| {
        let url = format!("http://{addr}/?token={token}");
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{url}");
        let _ = out.flush();
        eprintln!("hoist: dashboard at {url} (Ctrl-C stops it)");
        if open {
            browse(&url);
        }
    })
    .await?;
    Ok(0)
}

/// Best effort: a machine without a desktop has no xdg-open, and the URL is printed anyway.
fn browse(url: &str) {
    let started = Command::new("xdg-open")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match started {
        // Reaped off the serving thread: xdg-open returns once the browser has the URL.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => {
            eprintln!("hoist: could not open a browser (xdg-open: {e}); open the URL above")
        }
    }
}
