//! `ssh://` daemons: each HTTP connection is `ssh HOST docker system dial-stdio`, the way the
//! docker CLI does it, through the system ssh so ~/.ssh/config, ProxyJump, the agent and
//! known_hosts all apply. One ControlMaster per host under `$HOIST_HOME/ssh/` is shared by
//! every connection and, while it persists, by later hoist processes.
//!
//! Host keys are checked as the user's ssh config says; hoist never turns checking off.

use bollard::{BollardRequest, Docker};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::process::{Child, ChildStdin, ChildStdout};

pub use hoist_ssh::SshTarget;

/// One dial-stdio session: the ssh child's stdout and stdin as a byte stream.
pub struct SshStream {
    io: TokioIo<tokio::io::Join<ChildStdout, ChildStdin>>,
    _child: Child,
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Opens a dial-stdio session per connection hyper asks for.
#[derive(Clone)]
pub struct SshConnector {
    target: SshTarget,
    options: hoist_ssh::SshOptions,
}

impl tower_service::Service<Uri> for SshConnector {
    type Response = SshStream;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<SshStream, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let mut cmd = self
            .options
            .command(&self.target, "docker system dial-stdio");
        let log = self.options.control_dir.join("dial-stdio.log");
        Box::pin(async move {
            // ssh's own complaints go to a log, never to the terminal of a front door that
            // draws progress there; a failed connection surfaces as the engine's error.
            let stderr = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .map(std::process::Stdio::from)
                .unwrap_or_else(|_| std::process::Stdio::null());
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(stderr)
                .spawn()
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
            let (Some(out), Some(inp)) = (child.stdout.take(), child.stdin.take()) else {
                return Err(std::io::Error::other("ssh started without pipes"));
            };
            Ok(SshStream {
                io: TokioIo::new(tokio::io::join(out, inp)),
                _child: child,
            })
        })
    }
}

/// A bollard client whose transport is ssh + `docker system dial-stdio`.
pub fn connect(
    target: SshTarget,
    options: hoist_ssh::SshOptions,
    timeout_secs: u64,
    version: &bollard::ClientVersion,
) -> Result<Docker, bollard::errors::Error> {
    let connector = SshConnector { target, options };
    let client = Arc::new(Client::builder(TokioExecutor::new()).build(connector));
    Docker::connect_with_custom_transport(
        move |req: BollardRequest| {
            let client = Arc::clone(&client);
            async move {
                client
                    .request(req)
                    .await
                    .map_err(bollard::errors::Error::from)
            }
        },
        Some("http://docker"),
        timeout_secs,
        version,
    )
}
