//! Remote commands through the system `ssh`, so `~/.ssh/config`, ProxyJump, the agent and
//! known_hosts apply as they do for the user. One ControlMaster per host (sockets under a
//! directory the caller owns, e.g. `$HOIST_HOME/ssh`) is shared by every command and, while it
//! persists, by later hoist processes: a status poll costs a multiplexed channel, not a login.
//!
//! Host keys are checked as the user's ssh config says; `accept_new` (opt-in) adds
//! `StrictHostKeyChecking=accept-new`. Checking is never turned off.
#![deny(missing_docs)]

use hoist_core::spec::sh_quote;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;

/// Where to ssh: `[user@]host[:port]`, or `ssh://[user@]host[:port]`.
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
    /// Parse `ssh://[user@]host[:port][/]` or `[user@]host[:port]`. Values that ssh would read
    /// as options (a leading `-`) are refused.
    pub fn parse(s: &str) -> Option<SshTarget> {
        let rest = s.strip_prefix("ssh://").unwrap_or(s).trim_end_matches('/');
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
        let bad = |v: &str| {
            v.is_empty()
                || v.starts_with('-')
                || v.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if bad(&host) || user.as_deref().is_some_and(bad) {
            return None;
        }
        Some(SshTarget { user, host, port })
    }

    /// Readable `user@host:port` form.
    pub fn display(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&self.host);
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s
    }
}

/// How to reach hosts.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Directory for ControlMaster sockets (created 0700) and ssh's logs. When it is too deep
    /// for a socket path, the sockets go to a short directory of their own
    /// ([`SshOptions::socket_dir`]).
    pub control_dir: PathBuf,
    /// Private key to offer (SSH_KEY_PATH), in addition to the user's config.
    pub identity_file: Option<PathBuf>,
    /// Accept a host key the first time a host is seen (opt-in).
    pub accept_new: bool,
    /// Seconds to wait for a connection.
    pub connect_timeout: u32,
    /// An ssh config file read instead of the user's (`-F`), for hosts whose aliases a tool
    /// writes to a file of its own (Brev's `~/.brev/ssh_config`).
    pub config_file: Option<PathBuf>,
}

impl SshOptions {
    /// Defaults: sockets under `control_dir`, the user's keys and host-key policy.
    pub fn new(control_dir: &Path) -> Self {
        SshOptions {
            control_dir: control_dir.to_path_buf(),
            identity_file: None,
            accept_new: false,
            connect_timeout: 15,
            config_file: None,
        }
    }

    /// Where the ControlMaster sockets go: `control_dir` itself, unless `DIR/cm-%C` (and the
    /// temporary name ssh binds first, 17 characters longer) would pass the 107 bytes a socket
    /// path may have: then a directory named by a hash of `control_dir` under
    /// `$XDG_RUNTIME_DIR`, else under `/tmp/hoist-<uid>`.
    pub fn socket_dir(&self) -> PathBuf {
        let dir = &self.control_dir;
        if dir.as_os_str().len() <= MAX_SOCKET_DIR {
            return dir.clone();
        }
        let name = format!("hoist-ssh-{:08x}", fnv1a(&dir.to_string_lossy()) as u32);
        let runtime = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|r| r.is_absolute() && r.as_os_str().len() + 1 + name.len() <= MAX_SOCKET_DIR);
        match runtime {
            Some(r) => r.join(name),
            None => short_tmp_base().join(name),
        }
    }

    /// The ssh argv (without the program) that runs the remote command line `remote` on
    /// `target`. Each element is one argv entry: nothing here passes through a local shell.
    pub fn argv(&self, target: &SshTarget, remote: &str) -> Vec<String> {
        self.argv_in(Some(&self.socket_dir()), target, remote)
    }

    /// [`SshOptions::argv`] with sockets in `sockets`; `None`: no shared connection.
    fn argv_in(&self, sockets: Option<&Path>, target: &SshTarget, remote: &str) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        if let Some(f) = &self.config_file {
            a.push("-F".into());
            a.push(f.display().to_string());
        }
        let mut opt = |o: String| {
            a.push("-o".into());
            a.push(o);
        };
        opt("BatchMode=yes".into());
        match sockets {
            Some(dir) => {
                opt("ControlMaster=auto".into());
                opt(format!("ControlPath={}/cm-%C", dir.display()));
                opt("ControlPersist=300".into());
            }
            None => opt("ControlMaster=no".into()),
        }
        opt("ServerAliveInterval=30".into());
        opt(format!("ConnectTimeout={}", self.connect_timeout));
        if self.accept_new {
            opt("StrictHostKeyChecking=accept-new".into());
        }
        if let Some(k) = &self.identity_file {
            a.push("-i".into());
            a.push(k.display().to_string());
        }
        a.push("-T".into());
        if let Some(u) = &target.user {
            a.push("-l".into());
            a.push(u.clone());
        }
        if let Some(p) = target.port {
            a.push("-p".into());
            a.push(p.to_string());
        }
        a.push("--".into());
        a.push(target.host.clone());
        if !remote.is_empty() {
            a.push(remote.to_string());
        }
        a
    }

    /// Create the log and socket directories (0700, only those hoist creates); the socket
    /// directory to use, `None` when a shared one is not safe (see [`private_dir`]).
    fn prepare_dirs(&self) -> Option<PathBuf> {
        let _ = private_dir(&self.control_dir, true);
        let sockets = self.socket_dir();
        if sockets == self.control_dir {
            return Some(sockets);
        }
        let parent = sockets.parent()?;
        // /tmp/hoist-<uid> is made here; $XDG_RUNTIME_DIR is the user's already.
        if parent.starts_with("/tmp") && !private_dir(parent, false) {
            return None;
        }
        private_dir(&sockets, false).then_some(sockets)
    }

    /// A tokio command for `remote` on `target`, stdio left to the caller. Every ssh process
    /// hoist starts is made here, so this is where round trips are counted ([`round_trips`]).
    pub fn command(&self, target: &SshTarget, remote: &str) -> tokio::process::Command {
        let sockets = self.prepare_dirs();
        count_round_trip(target, remote);
        let mut c = tokio::process::Command::new("ssh");
        c.args(self.argv_in(sockets.as_deref(), target, remote))
            .kill_on_drop(true);
        c
    }
}

/// The longest socket directory: `DIR/cm-%C` is 44 bytes more (`%C` is 40 hex digits), ssh
/// first binds that name plus 17 characters, and a socket path has 107 bytes.
const MAX_SOCKET_DIR: usize = 107 - 44 - 17;

/// `/tmp/hoist-<uid>`: short, and the user's own.
fn short_tmp_base() -> PathBuf {
    PathBuf::from(format!("/tmp/hoist-{}", hoist_sys::fs::euid()))
}

/// Make `dir` (mode 0700 when hoist creates it) and say whether it is safe for sockets: a
/// directory, not a link, owned by this user, open to no one else. `recursive` creates the
/// parents too (a directory under `$HOIST_HOME`); a shared place is never trusted blindly:
/// someone else's `/tmp/hoist-<uid>` is refused, never chmod-ed.
fn private_dir(dir: &Path, recursive: bool) -> bool {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let made = std::fs::DirBuilder::new()
        .recursive(recursive)
        .mode(0o700)
        .create(dir);
    if let Err(e) = made
        && e.kind() != std::io::ErrorKind::AlreadyExists
    {
        return false;
    }
    match std::fs::symlink_metadata(dir) {
        Ok(m) => {
            m.is_dir() && m.uid() == hoist_sys::fs::euid() && m.permissions().mode() & 0o077 == 0
        }
        Err(_) => false,
    }
}

/// FNV-1a, 64 bits: a short stable name for a longer string (not a secret, not a defence).
pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);

/// The environment variable naming a file that gets one line per ssh process started:
/// `PID TARGET WORD`, WORD being the first word of the remote command (never the rest, which
/// may carry secrets), so a test or a benchmark can count round trips of another process.
pub const TRACE_ENV: &str = "HOIST_SSH_TRACE";

/// How many ssh processes (round trips) this process has started.
pub fn round_trips() -> u64 {
    ROUND_TRIPS.load(Ordering::Relaxed)
}

fn count_round_trip(target: &SshTarget, remote: &str) {
    ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
    if let Some(path) = std::env::var_os(TRACE_ENV).filter(|p| !p.is_empty()) {
        append_trace(Path::new(&path), target, remote);
    }
}

fn append_trace(path: &Path, target: &SshTarget, remote: &str) {
    let line = format!(
        "{} {} {}\n",
        std::process::id(),
        target.display(),
        trace_word(remote)
    );
    // One write of a short line to a file opened for appending: lines of concurrent
    // processes do not interleave. A trace that cannot be written must not stop the command.
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
}

/// The first word of a remote command, cut at the first character that is not plainly part of
/// a program name, so nothing but the program shows.
fn trace_word(remote: &str) -> String {
    let w: String = remote
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        .take(40)
        .collect();
    if w.is_empty() { "-".into() } else { w }
}

/// Quote argv words into one remote command line (the remote login shell parses it).
pub fn remote_line(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| sh_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a remote command returned.
#[derive(Debug, Clone)]
pub struct RemoteOutput {
    /// Exit status of the remote command (255: ssh itself failed).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The host that answered.
    pub host: String,
}

/// ssh's own failures (exit 255 or a connection-level message) as opposed to the remote
/// command's: only these move on to the next login host.
pub fn is_connection_failure(code: i32, stderr: &str) -> bool {
    const PATTERNS: &[&str] = &[
        "connection timed out",
        "connection refused",
        "no route to host",
        "could not resolve hostname",
        "connection reset",
        "name or service not known",
        "network is unreachable",
        "connection closed by",
        "host key verification failed",
    ];
    let s = stderr.to_ascii_lowercase();
    code == 255 || PATTERNS.iter().any(|p| s.contains(p))
}

/// ssh failures that happen before the remote command could start (the command certainly
/// did not run), so even a command that must never run twice may move to the next host.
pub fn never_connected(stderr: &str) -> bool {
    const PATTERNS: &[&str] = &[
        "connection refused",
        "could not resolve hostname",
        "name or service not known",
        "no route to host",
        "network is unreachable",
        "host key verification failed",
        "permission denied (",
        "connection timed out during banner exchange",
        "connect to host",
    ];
    let s = stderr.to_ascii_lowercase();
    PATTERNS.iter().any(|p| s.contains(p))
}

/// When [`Hosts::run`] may try the next host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failover {
    /// On any connection-level failure (safe for reads).
    Always,
    /// Only when the command cannot have started (for sbatch and other non-idempotent work).
    BeforeStart,
}

/// A set of login hosts tried in order.
#[derive(Debug, Clone)]
pub struct Hosts {
    /// Hosts, first preferred.
    pub targets: Vec<SshTarget>,
    /// How to reach them.
    pub options: SshOptions,
}

impl Hosts {
    /// Run `remote` with optional stdin on the first host that connects, moving on as
    /// `failover` allows.
    pub async fn run(
        &self,
        remote: &str,
        stdin: Option<&[u8]>,
        failover: Failover,
    ) -> std::io::Result<RemoteOutput> {
        let b = self.exec(remote, stdin, failover).await?;
        Ok(RemoteOutput {
            code: b.code,
            stdout: String::from_utf8_lossy(&b.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&b.stderr).into_owned(),
            host: b.host,
        })
    }

    /// [`Hosts::run`] without stdin, keeping stdout as bytes (a tar stream).
    pub async fn run_bytes(
        &self,
        remote: &str,
        failover: Failover,
    ) -> std::io::Result<RemoteBytes> {
        self.exec(remote, None, failover).await
    }

    async fn exec(
        &self,
        remote: &str,
        stdin: Option<&[u8]>,
        failover: Failover,
    ) -> std::io::Result<RemoteBytes> {
        let mut last: Option<RemoteBytes> = None;
        for t in &self.targets {
            if let Some(prev) = &last
                && failover == Failover::BeforeStart
                && !never_connected(&String::from_utf8_lossy(&prev.stderr))
            {
                break;
            }
            let mut c = self.options.command(t, remote);
            c.stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            let mut child = c
                .spawn()
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
            if let (Some(data), Some(mut w)) = (stdin, child.stdin.take()) {
                w.write_all(data).await?;
                drop(w);
            }
            let out = child.wait_with_output().await?;
            let r = RemoteBytes {
                code: out.status.code().unwrap_or(255),
                stdout: out.stdout,
                stderr: out.stderr,
                host: t.display(),
            };
            if !is_connection_failure(r.code, &String::from_utf8_lossy(&r.stderr)) {
                return Ok(r);
            }
            last = Some(r);
        }
        Ok(last.unwrap_or(RemoteBytes {
            code: 255,
            stdout: Vec::new(),
            stderr: b"no login host configured".to_vec(),
            host: String::new(),
        }))
    }
}

/// What a remote command left, as bytes.
#[derive(Debug, Clone)]
pub struct RemoteBytes {
    /// Exit code (255: ssh itself failed).
    pub code: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// The host that answered.
    pub host: String,
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
            SshTarget::parse("me@10.0.0.1:2222"),
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
            "ssh://",
            "-oProxyCommand=evil",
            "ssh://@h",
            "h:notaport",
            "a b",
            "me@-x",
        ] {
            assert!(SshTarget::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn argv_keeps_the_host_after_double_dash_and_checks_keys() {
        let t = SshTarget {
            user: Some("u".into()),
            host: "h".into(),
            port: Some(22),
        };
        let o = SshOptions::new(Path::new("/x"));
        let a = o.argv(&t, "squeue -h");
        let dd = a.iter().position(|s| s == "--").expect("--");
        assert_eq!(&a[dd + 1..], ["h", "squeue -h"]);
        assert!(
            !a.iter().any(|s| s.contains("StrictHostKeyChecking")),
            "the user's policy applies"
        );
        let accept = SshOptions {
            accept_new: true,
            ..o
        };
        assert!(
            accept
                .argv(&t, "")
                .iter()
                .any(|s| s == "StrictHostKeyChecking=accept-new")
        );
    }

    #[test]
    fn sockets_of_a_deep_home_go_to_a_short_private_directory() {
        let shallow = SshOptions::new(Path::new("/home/me/.hoist/ssh"));
        assert_eq!(shallow.socket_dir(), Path::new("/home/me/.hoist/ssh"));
        let deep_dir = format!("/tmp/{}/ssh", "d".repeat(120));
        let deep = SshOptions::new(Path::new(&deep_dir));
        let sockets = deep.socket_dir();
        assert!(
            sockets.as_os_str().len() <= MAX_SOCKET_DIR,
            "{}",
            sockets.display()
        );
        let path = deep
            .argv(&SshTarget::parse("h").expect("t"), "true")
            .into_iter()
            .find_map(|a| a.strip_prefix("ControlPath=").map(str::to_string))
            .expect("ControlPath");
        // %C expands to 40 hex digits; ssh first binds that name plus 17 characters.
        assert!(path.len() - 3 + 40 + 17 <= 107, "{path}");
        assert_eq!(
            deep.socket_dir(),
            sockets,
            "the same home, the same sockets"
        );
        let other = SshOptions::new(Path::new(&format!("{deep_dir}2")));
        assert_ne!(other.socket_dir(), sockets, "another home, other sockets");
    }

    #[test]
    fn a_socket_directory_open_to_others_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("hoist-ssh-priv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mine = root.join("a/b");
        assert!(private_dir(&mine, true), "made 0700");
        let mode = std::fs::metadata(&mine).expect("dir").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let open = root.join("open");
        std::fs::create_dir(&open).expect("dir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(!private_dir(&open, false), "refused, and left as it was");
        let mode = std::fs::metadata(&open).expect("dir").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn remote_lines_are_quoted() {
        assert_eq!(
            remote_line(&["cat", "/a b/c", "$(id)", "it's"]),
            "cat '/a b/c' '$(id)' 'it'\"'\"'s'"
        );
    }

    #[test]
    fn only_unstarted_commands_fail_over_before_start() {
        assert!(never_connected(
            "ssh: connect to host 10.0.0.9 port 22: Connection refused"
        ));
        assert!(never_connected(
            "ssh: Could not resolve hostname nohost: Name or service not known"
        ));
        assert!(
            !never_connected("client_loop: send disconnect: Broken pipe"),
            "a dropped session may have run the command"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn fails_over_past_a_refused_host() {
        let dir = std::env::temp_dir().join(format!("hoist-ssh-test-{}", std::process::id()));
        let hosts = Hosts {
            targets: vec![
                SshTarget::parse("127.0.0.1:1").expect("t1"),
                SshTarget::parse("127.0.0.1:1").expect("t2"),
            ],
            options: SshOptions {
                connect_timeout: 2,
                ..SshOptions::new(&dir)
            },
        };
        let before = round_trips();
        let out = hosts
            .run("true", None, Failover::BeforeStart)
            .await
            .expect("ssh runs");
        assert_eq!(out.code, 255);
        assert_eq!(round_trips() - before, 2, "one ssh process per host tried");
        assert!(never_connected(&out.stderr), "{}", out.stderr);
    }

    #[test]
    fn the_trace_names_the_program_only() {
        assert_eq!(trace_word("sh -s"), "sh");
        assert_eq!(trace_word("  squeue -h -u x"), "squeue");
        assert_eq!(trace_word("TOKEN=s3cret cmd"), "TOKEN");
        assert_eq!(trace_word("cd '/a b' && sbatch"), "cd");
        assert_eq!(trace_word("'quoted' x"), "-");
        assert_eq!(trace_word(""), "-");
        let dir = std::env::temp_dir().join(format!("hoist-ssh-trace-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("trace");
        let t = SshTarget::parse("me@login1").expect("target");
        append_trace(&file, &t, "sh -s");
        append_trace(&file, &t, "PASSWORD=hunter2 docker login");
        let text = std::fs::read_to_string(&file).expect("trace");
        let _ = std::fs::remove_dir_all(&dir);
        let pid = std::process::id();
        assert_eq!(
            text,
            format!("{pid} me@login1 sh\n{pid} me@login1 PASSWORD\n")
        );
    }

    #[test]
    fn only_ssh_failures_fail_over() {
        assert!(is_connection_failure(255, ""));
        assert!(is_connection_failure(
            1,
            "ssh: connect to host x port 22: Connection refused"
        ));
        assert!(!is_connection_failure(
            1,
            "sbatch: error: invalid partition specified"
        ));
    }
}
