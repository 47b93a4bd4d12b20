//! Driving the `brev` CLI safely: stdin always /dev/null (a piped stdin is read as instance
//! names and can hang `create`), a timeout on every call, a re-login with BREV_API_TOKEN when
//! a command finds the session logged out (then that command once more), both shapes of `ls --json`, and the token kept out
//! of every message.

use hoist_core::{InputError, PlatformError};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// One instance as `brev ls --json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default)]
pub struct Workspace {
    /// Name (also its ssh alias).
    pub name: String,
    /// Brev's id for it.
    pub id: String,
    /// DEPLOYING, RUNNING, STOPPING, STOPPED, STARTING, DELETING, FAILURE, or UNHEALTHY.
    pub status: String,
    /// "", PENDING, BUILDING, COMPLETED, CREATE_FAILED.
    pub build_status: String,
    /// READY or NOT READY.
    pub shell_status: String,
    /// HEALTHY, UNHEALTHY, UNAVAILABLE or "".
    pub health_status: String,
    /// Cloud machine type.
    pub instance_type: String,
    /// `gpu` or `cpu`.
    pub instance_kind: String,
    /// GPU model, `-` when brev could not tell.
    pub gpu: String,
}

impl Workspace {
    /// Reachable over ssh as far as brev can tell: running, built, shell ready.
    pub fn ready(&self) -> bool {
        self.status == "RUNNING" && self.shell_status == "READY"
    }

    /// Brev's state in one line: `RUNNING (build COMPLETED, shell READY, health HEALTHY)`.
    pub fn state_line(&self) -> String {
        let mut parts = Vec::new();
        for (what, v) in [
            ("build", &self.build_status),
            ("shell", &self.shell_status),
            ("health", &self.health_status),
        ] {
            if !v.is_empty() {
                parts.push(format!("{what} {v}"));
            }
        }
        if parts.is_empty() {
            self.status.clone()
        } else {
            format!("{} ({})", self.status, parts.join(", "))
        }
    }
}

/// Read `brev ls --json`: `{"workspaces": [...]}` (v0.6.323 on, `null` when empty), the older
/// bare array, or `null`.
pub fn parse_ls(stdout: &str) -> Result<Vec<Workspace>, PlatformError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Listing {
        Object { workspaces: Option<Vec<Workspace>> },
        Array(Vec<Workspace>),
    }
    let text = stdout.trim();
    if text.is_empty() || text == "null" {
        return Ok(Vec::new());
    }
    // Anything brev prints before the JSON (an update notice) is skipped.
    let start = text.find(['{', '[']).unwrap_or(0);
    match serde_json::from_str::<Listing>(&text[start..]) {
        Ok(Listing::Object { workspaces }) => Ok(workspaces.unwrap_or_default()),
        Ok(Listing::Array(v)) => Ok(v),
        Err(e) => Err(PlatformError::failed(
            format!("brev ls --json printed something hoist cannot read: {e}"),
            "check `brev ls --json` by hand; hoist reads {\"workspaces\": [...]} and the older bare array",
        )),
    }
}

/// What a finished brev call printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status (brev uses 0 and 1).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// A brev CLI and the credentials to use it with.
pub struct BrevCli {
    bin: PathBuf,
    bin_from: &'static str,
    token: Option<String>,
    home: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for BrevCli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrevCli")
            .field("bin", &self.bin)
            .field("token", &self.token.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

/// Seconds one brev call may take (create and login reach the cloud; the rest are reads).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);

impl BrevCli {
    /// The CLI at `bin` (`brev` on PATH when `None`), logging in with `token` when a command
    /// finds the session logged out; `home` is the HOME it runs with.
    pub fn new(bin: Option<&str>, token: Option<String>, home: Option<String>) -> Self {
        let (bin, bin_from) = match bin {
            Some(b) => (PathBuf::from(b), "brev_bin / HOIST_BREV_BIN"),
            None => (PathBuf::from("brev"), "PATH"),
        };
        BrevCli {
            bin,
            bin_from,
            token: token.filter(|t| !t.trim().is_empty()),
            home,
            timeout: CALL_TIMEOUT,
        }
    }

    /// The program run.
    pub fn bin(&self) -> &std::path::Path {
        &self.bin
    }

    /// Whether a token is there to log in with.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Text with the token, should brev ever echo it, masked.
    pub fn redact(&self, text: &str) -> String {
        match &self.token {
            Some(t) if t.len() >= 4 => text.replace(t.as_str(), "<BREV_API_TOKEN>"),
            _ => text.to_string(),
        }
    }

    /// Run `brev ARGS` once: stdin /dev/null, output captured, killed at the timeout.
    pub async fn raw(&self, args: &[&str]) -> Result<Output, PlatformError> {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(h) = &self.home {
            cmd.env("HOME", h);
        }
        let what = format!("brev {}", args.first().copied().unwrap_or_default());
        let child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                PlatformError::NotFound {
                    what: format!("the brev CLI ({})", self.bin.display()),
                    why: format!("it is not on {}", self.bin_from),
                    hint: "install brev (https://docs.nvidia.com/brev), or set HOIST_BREV_BIN (or brev_bin in a profile) to its path".into(),
                }
            } else {
                PlatformError::io(format!("running {}", self.bin.display()), e)
            }
        })?;
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(r) => r.map_err(|e| PlatformError::io(format!("running {what}"), e))?,
            Err(_) => {
                return Err(PlatformError::Unreachable {
                    what,
                    why: format!("no answer within {} s", self.timeout.as_secs()),
                    hint: "check the network to Brev (brev ls), then run the hoist command again"
                        .into(),
                });
            }
        };
        Ok(Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run `brev ARGS`; a logged-out session is logged in again with BREV_API_TOKEN once and
    /// the command run again. A failure is an error with brev's own words (token masked).
    pub async fn run(&self, args: &[&str]) -> Result<String, PlatformError> {
        let out = self.output(args).await?;
        if out.code != 0 {
            return Err(self.failure(args, &out));
        }
        Ok(out.stdout)
    }

    /// Run `brev ARGS` with the same re-login as [`BrevCli::run`], and hand back what it
    /// printed whatever its exit status, for a caller that reads brev's own failures.
    pub async fn output(&self, args: &[&str]) -> Result<Output, PlatformError> {
        let mut out = self.raw(args).await?;
        if out.code != 0 && logged_out(&out) {
            if self.token.is_none() {
                return Err(self.logged_out_error());
            }
            // Once per command: a login that does not take is not tried again.
            self.login().await?;
            out = self.raw(args).await?;
            if out.code != 0 && logged_out(&out) {
                return Err(self.logged_out_error());
            }
        }
        Ok(out)
    }

    /// `brev login --token $BREV_API_TOKEN`. The CLI takes the token only as an argument, so
    /// it is on this one command line, and nowhere else.
    pub async fn login(&self) -> Result<(), PlatformError> {
        let Some(token) = &self.token else {
            return Err(self.logged_out_error());
        };
        let out = self.raw(&["login", "--token", token]).await?;
        if out.code != 0 {
            return Err(PlatformError::Denied {
                what: "brev login with BREV_API_TOKEN".into(),
                why: self.redact(last_words(&out)),
                hint: "BREV_API_TOKEN may be expired or wrong: get a new one from the Brev console, or run brev login".into(),
            });
        }
        Ok(())
    }

    /// Every instance of the active org.
    pub async fn list(&self) -> Result<Vec<Workspace>, PlatformError> {
        parse_ls(&self.run(&["ls", "--json"]).await?)
    }

    fn logged_out_error(&self) -> PlatformError {
        PlatformError::Denied {
            what: "brev".into(),
            why: "the brev CLI is logged out (or its session expired)".into(),
            hint: if self.token.is_some() {
                "logging in with BREV_API_TOKEN did not help: the token may be expired; get a new one, or run brev login".into()
            } else {
                "run brev login, or set BREV_API_TOKEN for hoist to log in with".into()
            },
        }
    }

    /// The error for a failed call, in brev's words, classified where the words allow.
    pub fn failure(&self, args: &[&str], out: &Output) -> PlatformError {
        let words = self.redact(last_words(out));
        let cmd = self.redact(&format!("brev {}", args.join(" ")));
        let lower = words.to_ascii_lowercase();
        if lower.contains("not found") && args.first() != Some(&"create") {
            return PlatformError::NotFound {
                what: cmd,
                why: words,
                hint: "brev ls lists the instances this login sees".into(),
            };
        }
        if lower.contains("quota") || lower.contains("insufficient") || lower.contains("capacity") {
            return PlatformError::Quota {
                what: cmd,
                why: words,
                hint:
                    "try another --gpu-type or --instance-type (brev search lists them), or later"
                        .into(),
            };
        }
        if lower.contains("unknown flag") {
            return PlatformError::failed(
                format!("{cmd} failed: {words}"),
                "this brev CLI lacks a flag hoist passes: upgrade it (brev upgrade)",
            );
        }
        PlatformError::failed(format!("{cmd} failed: {words}"), "")
    }
}

/// What brev prints when it has no usable session: a login prompt on stdout that meets EOF.
pub fn logged_out(out: &Output) -> bool {
    let all = format!("{}\n{}", out.stdout, out.stderr).to_ascii_lowercase();
    all.contains("you are currently logged out")
        || all.contains("malformed refresh token")
        || all.contains("401 unauthorized")
        || (out.stderr.trim() == "EOF")
}

/// The lines that say what went wrong (stderr, else stdout), trimmed.
fn last_words(out: &Output) -> &str {
    let e = out.stderr.trim();
    if e.is_empty() { out.stdout.trim() } else { e }
}

/// Brev's rule for instance names.
pub fn check_name(name: &str) -> Result<(), InputError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(InputError::new(
            format!("{name:?} is not a valid Brev instance name"),
            "use at most 63 letters, digits, '.', '_' or '-', starting with a letter or digit",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ls_shapes_and_null() {
        let one = r#"{"name":"a","id":"x1","status":"RUNNING","build_status":"COMPLETED","shell_status":"READY","health_status":"HEALTHY","instance_type":"g5.xlarge","instance_kind":"gpu","gpu":"A10G"}"#;
        for text in [
            format!(r#"{{"workspaces":[{one}]}}"#),
            format!("[{one}]"),
            format!(r#"{{"workspaces":[{one}],"nodes":[]}}"#),
        ] {
            let v = parse_ls(&text).expect("parse");
            assert_eq!(v.len(), 1);
            assert!(v[0].ready() && v[0].gpu == "A10G", "{v:?}");
        }
        for empty in [
            r#"{"workspaces": null}"#,
            "null",
            "[]",
            "",
            r#"{"workspaces":[]}"#,
        ] {
            assert_eq!(parse_ls(empty).expect("empty"), vec![], "{empty}");
        }
        assert!(parse_ls("You are currently logged out").is_err());
        let w = Workspace {
            status: "RUNNING".into(),
            build_status: "BUILDING".into(),
            shell_status: "NOT READY".into(),
            ..Default::default()
        };
        assert!(!w.ready());
        assert_eq!(w.state_line(), "RUNNING (build BUILDING, shell NOT READY)");
    }

    #[test]
    fn names_follow_brevs_rule() {
        for ok in ["a", "hoist-1a2b3c4d", "A.b_c-9", &"x".repeat(63)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "a b", "a/b", "a;rm", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn logged_out_is_recognized_and_the_token_masked() {
        let out = Output {
            code: 1,
            stdout: "You are currently logged out, would you like to log in? [Y/n]: ".into(),
            stderr: "EOF\n".into(),
        };
        assert!(logged_out(&out));
        let fine = Output {
            code: 1,
            stdout: String::new(),
            stderr: "instance with id/name nope not found".into(),
        };
        assert!(!logged_out(&fine));
        let cli = BrevCli::new(None, Some("tok-secret-123".into()), None);
        assert_eq!(cli.redact("bad tok-secret-123 x"), "bad <BREV_API_TOKEN> x");
        assert!(!format!("{cli:?}").contains("tok-secret"));
        let e = cli.failure(&["start", "nope"], &fine);
        assert!(matches!(e, PlatformError::NotFound { .. }), "{e}");
    }
}
