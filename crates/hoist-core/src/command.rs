//! What a user types for a job's command and environment: the command forms, shell quoting,
//! env names and files, secret names, sizes. Pure parsing; the spec is in [`crate::spec`].

use crate::spec::InputError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The command a job runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Executed directly, no shell in between (local), or quoted into one (containers).
    Argv(Vec<String>),
    /// One string for a shell (`/bin/sh -c` unless the spec names another shell).
    Shell(String),
}

impl Command {
    /// What follows `--` on the command line. One argument that needs a shell (spaces,
    /// pipes, `$VAR`, `&&` …) is a shell string; anything else is an argv.
    pub fn from_cli(args: Vec<String>) -> Result<Command, InputError> {
        if args.is_empty() || args.iter().all(|a| a.trim().is_empty()) {
            return Err(InputError::new(
                "no command given",
                "put the command after --, e.g. hoist run -- python train.py",
            ));
        }
        if args.len() == 1 && needs_shell(&args[0]) {
            let mut args = args;
            return Ok(Command::Shell(args.remove(0)));
        }
        Ok(Command::Argv(args))
    }

    /// The command as one line a person can read (argv words quoted where needed).
    pub fn display(&self) -> String {
        match self {
            Command::Shell(s) => s.clone(),
            Command::Argv(a) => a.iter().map(|w| sh_quote(w)).collect::<Vec<_>>().join(" "),
        }
    }
}

fn needs_shell(s: &str) -> bool {
    s.chars().any(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '|' | '&'
                    | ';'
                    | '<'
                    | '>'
                    | '('
                    | ')'
                    | '$'
                    | '`'
                    | '*'
                    | '?'
                    | '['
                    | '~'
                    | '{'
                    | '"'
                    | '\''
            )
    })
}

/// Quote one word for a POSIX shell. Words made only of safe characters stay bare; anything
/// else is wrapped in single quotes with embedded quotes spliced as `'"'"'`. NUL cannot be
/// represented in a shell word, so it is rejected by [`sh_quote_checked`].
pub fn sh_quote(word: &str) -> String {
    if !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.' | '/' | ':' | '=' | '@' | '%' | '+' | ',')
        })
    {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\"'\"'");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// [`sh_quote`], refusing a NUL byte that no shell word can carry.
pub fn sh_quote_checked(word: &str) -> Result<String, InputError> {
    if word.contains('\0') {
        return Err(InputError::new(
            "a command word contains a NUL byte",
            "remove the NUL byte; shells cannot pass it",
        ));
    }
    Ok(sh_quote(word))
}

/// One environment variable of a job.
///
/// Secret values never reach the store: they are held as `Secret` (name only) and the value is
/// read again from the submitting process's environment when the job is launched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvValue {
    /// A plain value, stored as given.
    Literal(String),
    /// Taken from the submitting environment at launch; only the name is kept.
    FromHost,
    /// A secret: the value exists only in the launching process and the job.
    Secret,
}

/// Names whose values are credentials. Values of these are never written anywhere hoist owns.
pub fn is_secret_name(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "ACCESS_KEY",
        "SECRET_KEY",
        "NGC_KEY",
        "NGC_API_KEY",
        "HF_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "DOCKER_PASSWORD",
        "SKYPILOT_DOCKER_PASSWORD",
        "BREV_API_TOKEN",
        "LEPTON_API_TOKEN",
        "WANDB_API_KEY",
    ];
    let up = name.to_ascii_uppercase();
    EXACT.contains(&up.as_str())
        || [
            "SECRET",
            "TOKEN",
            "PASSWORD",
            "PASSWD",
            "API_KEY",
            "APIKEY",
            "CREDENTIAL",
            "PRIVATE_KEY",
        ]
        .iter()
        .any(|w| up.contains(w))
        || up.ends_with("_KEY")
}

/// Check an environment variable name.
pub fn validate_env_name(name: &str) -> Result<(), InputError> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(InputError::new(
            format!("bad environment variable name {name:?}"),
            "names are letters, digits and _, not starting with a digit",
        ))
    }
}

/// Parse one `--env` argument: `K=V`, or `K` alone to pass the submitting shell's value.
pub fn parse_env_arg(arg: &str) -> Result<(String, Option<String>), InputError> {
    let (name, value) = match arg.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (arg, None),
    };
    validate_env_name(name).map_err(|e| {
        InputError::new(
            format!("malformed --env {arg:?}: {}", e.message),
            "write --env NAME=VALUE, or --env NAME to pass the value of NAME from this shell",
        )
    })?;
    Ok((name.to_string(), value))
}

/// Parse an env file: `K=V` lines, `#` comments, blank lines, optional `export `, and values in
/// matching single or double quotes. Errors name the line.
pub fn parse_env_file(text: &str, path: &str) -> Result<Vec<(String, String)>, InputError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((name, value)) = line.split_once('=') else {
            return Err(InputError::new(
                format!("{path}:{}: expected NAME=VALUE, found {line:?}", i + 1),
                "fix or comment out that line of the env file",
            ));
        };
        let name = name.trim();
        validate_env_name(name)
            .map_err(|e| InputError::new(format!("{path}:{}: {}", i + 1, e.message), e.hint))?;
        let v = value.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            &v[1..v.len() - 1]
        } else {
            v
        };
        out.push((name.to_string(), v.to_string()));
    }
    Ok(out)
}

/// The largest `--memory` taken: 1 PiB.
pub const MAX_MEMORY: u64 = 1 << 50;

/// Parse a memory size: bytes, or a number with k/m/g/t (powers of 1024, optional `i`/`b`).
pub fn parse_memory(s: &str) -> Result<u64, InputError> {
    let bad = || {
        InputError::new(
            format!("bad --memory value {s:?}"),
            "use a size such as 512m, 16g or 1073741824 (bytes)",
        )
    };
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches('b').trim_end_matches('i');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some(_) => (t, 1),
        None => return Err(bad()),
    };
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if !(n.is_finite() && n > 0.0) {
        return Err(InputError::new(
            format!("bad --memory value {s:?}: a size is a positive number"),
            "use a size such as 512m, 16g or 1073741824 (bytes)",
        ));
    }
    // The cast below saturates: a size past any machine must be refused, not become "no limit".
    let exact = n * mult as f64;
    if exact > MAX_MEMORY as f64 {
        return Err(InputError::new(
            format!("--memory {s:?} is more memory than any machine has (at most 1p)"),
            "use a size such as 512m, 16g or 2t",
        ));
    }
    let bytes = exact as u64;
    if bytes < 4096 {
        return Err(InputError::new(
            format!("--memory {s:?} is {bytes} bytes, too small to start any process"),
            "units are bytes unless you add k, m or g (e.g. 512m)",
        ));
    }
    Ok(bytes)
}

impl fmt::Display for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvValue::Literal(v) => f.write_str(v),
            EnvValue::FromHost => f.write_str("<from submitting environment>"),
            EnvValue::Secret => f.write_str("<secret>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::JobSpec;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn command_forms() {
        assert_eq!(
            Command::from_cli(s(&["python", "train.py"])).ok(),
            Some(Command::Argv(s(&["python", "train.py"])))
        );
        assert_eq!(
            Command::from_cli(s(&["echo hi | wc"])).ok(),
            Some(Command::Shell("echo hi | wc".into()))
        );
        assert_eq!(
            Command::from_cli(s(&["true"])).ok(),
            Some(Command::Argv(s(&["true"])))
        );
        assert!(Command::from_cli(vec![]).is_err());
        assert!(Command::from_cli(s(&[" "])).is_err());
    }

    #[test]
    fn quoting_survives_hostile_words() {
        assert_eq!(sh_quote("plain/path-1.txt"), "plain/path-1.txt");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\"'\"'s'");
        assert_eq!(sh_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert!(sh_quote_checked("a\0b").is_err());
        let cmd = Command::Argv(s(&["echo", "; touch /tmp/pwned", "`id`"]));
        assert_eq!(cmd.display(), "echo '; touch /tmp/pwned' '`id`'");
    }

    #[test]
    fn env_args() {
        assert_eq!(
            parse_env_arg("A=1").ok(),
            Some(("A".into(), Some("1".into())))
        );
        assert_eq!(
            parse_env_arg("A=x=y").ok(),
            Some(("A".into(), Some("x=y".into())))
        );
        assert_eq!(parse_env_arg("HOME").ok(), Some(("HOME".into(), None)));
        for bad in ["=1", "1A=2", "A-B=3", ""] {
            let e = parse_env_arg(bad).expect_err(bad);
            assert!(e.message.contains("--env"));
        }
    }

    #[test]
    fn env_file() {
        let got =
            parse_env_file("# c\n\nexport A=1\nB = \"two words\"\nC='x'\n", "f").expect("parse");
        assert_eq!(
            got,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into())
            ]
        );
        let e = parse_env_file("A=1\nnonsense\n", "f.env").expect_err("bad");
        assert!(e.message.starts_with("f.env:2:"), "{}", e.message);
    }

    #[test]
    fn secrets_by_name() {
        for n in [
            "HF_TOKEN",
            "SECRET_KEY",
            "ACCESS_KEY",
            "NGC_KEY",
            "MY_API_KEY",
            "db_password",
            "GITHUB_TOKEN",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "PATH",
            "S3_BUCKET_NAME",
            "SLURM_USER",
            "KEYBOARD",
            "CUDA_VISIBLE_DEVICES",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
        let mut spec = JobSpec::new(Command::Argv(s(&["x"])));
        spec.set_env("HF_TOKEN", Some("hf_abc".into()));
        spec.set_env("MODE", Some("fast".into()));
        spec.set_env("HOME", None);
        let stored = serde_json::to_string(&spec.redacted()).expect("json");
        assert!(!stored.contains("hf_abc"));
        assert!(stored.contains("fast"));
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("512m").ok(), Some(512 << 20));
        assert_eq!(parse_memory("16G").ok(), Some(16 << 30));
        assert_eq!(parse_memory("1.5gi").ok(), Some(3 << 29));
        assert_eq!(parse_memory("1048576").ok(), Some(1 << 20));
        for bad in ["", "m", "-1g", "lots", "12", "1e30g", "2048t", "nan", "inf"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
    }
}
