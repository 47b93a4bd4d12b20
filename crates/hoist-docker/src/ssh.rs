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
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// Where to ssh: `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Login user, if given.
    pub user: Option<String>,
    /// Host name or ~/.ssh/config alias.
    pub host: String,
    /// Port, if given.
    pub port: Option<u16>,
}

impl SshTarget {
    /// Parse `ssh://[user@]host[:port][/]`.
    pub fn parse(url: &str) -> Option<SshTarget> {
        let rest = url.strip_prefix("ssh://")?.trim_end_matches('/');
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(']') || h.ends_with(']') => (
                h.trim_matches(['[', ']']).to_string(),
                Some(p.parse().ok()?),
            ),
            _ => (hostport.trim_matches(['[', ']']).to_string(), None),
        };
        if host.is_empty()
            || host.starts_with('-')
            || user
                .as_deref()
                .is_some_and(|u| u.is_empty() || u.starts_with('-'))
        {
            return None; // an argument-looking host would be read by ssh as an option
        }
        Some(SshTarget { user, host, port })
    }

    /// The ssh argv (without the program) that runs `remote` on the target. Each element is
    /// one argv entry: nothing here goes through a local shell.
    pub fn argv(&self, control_dir: &Path, remote: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "ControlMaster=auto".into(),
            "-o".into(),
            format!("ControlPath={}/cm-%C", control_dir.display()),
            "-o".into(),
            "ControlPersist=300".into(),
            "-o".into(),
            "ServerAliveInterval=30".into(),
            "-T".into(),
        ];
        if let Some(u) = &self.user {
            a.push("-l".into());
            a.push(u.clone());
        }
        if let Some(p) = self.port {
            a.push("-p".into());
            a.push(p.to_string());
        }
        a.push("--".into());
        a.push(self.host.clone());
        a.extend(remote.iter().map(|s| s.to_string()));
        a
    }
}

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
    control_dir: PathBuf,
}

impl tower_service::Service<Uri> for SshConnector {
    type Response = SshStream;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<SshStream, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let argv = self
            .target
            .argv(&self.control_dir, &["docker", "system", "dial-stdio"]);
        Box::pin(async move {
            let mut child = tokio::process::Command::new("ssh")
                .args(&argv)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true)
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
    control_dir: &Path,
    timeout_secs: u64,
    version: &bollard::ClientVersion,
) -> Result<Docker, bollard::errors::Error> {
    let _ = std::fs::create_dir_all(control_dir);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(control_dir, std::fs::Permissions::from_mode(0o700));
    }
    let connector = SshConnector {
        target,
        control_dir: control_dir.to_path_buf(),
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            SshTarget::parse("ssh://box"),
            Some(SshTarget {
                user: None,
                host: "box".into(),
                port: None
            })
        );
        assert_eq!(
            SshTarget::parse("ssh://me@10.0.0.1:2222/"),
            Some(SshTarget {
                user: Some("me".into()),
                host: "10.0.0.1".into(),
                port: Some(2222)
            })
        );
        assert_eq!(
            SshTarget::parse("ssh://[::1]:22").map(|t| t.host),
            Some("::1".into())
        );
        for bad in [
            "tcp://x",
            "ssh://",
            "ssh://-oProxyCommand=evil",
            "ssh://@h",
            "ssh://h:notaport",
        ] {
            assert!(SshTarget::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn argv_keeps_the_host_after_double_dash() {
        let t = SshTarget {
            user: Some("u".into()),
            host: "h".into(),
            port: Some(22),
        };
        let a = t.argv(Path::new("/x"), &["docker", "system", "dial-stdio"]);
        let dd = a.iter().position(|s| s == "--").expect("--");
        assert_eq!(&a[dd + 1..], ["h", "docker", "system", "dial-stdio"]);
        assert!(
            !a.iter().any(|s| s.contains("StrictHostKeyChecking")),
            "host keys stay checked as configured"
        );
    }
}
