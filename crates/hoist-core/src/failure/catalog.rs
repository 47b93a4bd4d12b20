//! Every rule `hoist why` can name, as data: the log rules of the table plus the rules that
//! read the exit code, the signal or the status rather than a log line. `hoist why --rules`
//! lists them, `hoist why --explain RULE` describes one, and [`super::analyze`] takes its
//! texts for the non-log rules from here.

use super::ErrClass;
use super::rules::LOG_RULES;
use serde::Serialize;

/// A rule that does not read the log.
#[derive(Debug)]
pub struct BuiltinRule {
    /// Its name in an analysis (`exit:127`, `signal:9`).
    pub name: &'static str,
    /// What triggers it, in words.
    pub trigger: &'static str,
    /// Class.
    pub class: ErrClass,
    /// Cause (may hold `{placeholders}` filled from what was seen).
    pub cause: &'static str,
    /// What it means, for the listing, where the cause is mostly placeholders.
    pub meaning: Option<&'static str>,
    /// Fix.
    pub suggestion: &'static str,
    /// Whether a retry can help.
    pub retriable: bool,
}

/// The rules that read the status, exit code and signal, in the order `analyze` tries them
/// after the platform's findings and the log rules.
pub static BUILTIN_RULES: &[BuiltinRule] = &[
    BuiltinRule {
        name: "canceled",
        trigger: "the job's status is Canceled (hoist cancel, or the platform's own cancel)",
        class: ErrClass::Program,
        cause: "the job was canceled",
        meaning: None,
        suggestion: "nothing to fix; run it again if the cancel was a mistake",
        retriable: false,
    },
    BuiltinRule {
        name: "exit:126",
        trigger: "exit code 126 (the shell found the command but could not run it)",
        class: ErrClass::Config,
        cause: "the command was found but could not be executed (exit 126)",
        meaning: None,
        suggestion: "make it executable (chmod +x) and check its interpreter line",
        retriable: false,
    },
    BuiltinRule {
        name: "exit:127",
        trigger: "exit code 127 (the shell did not find the command)",
        class: ErrClass::Config,
        cause: "the command was not found (exit 127)",
        meaning: None,
        suggestion: "check the command name and PATH, or install it in the image",
        retriable: false,
    },
    BuiltinRule {
        name: "signal:9",
        trigger: "killed by SIGKILL (signal 9, exit 137)",
        class: ErrClass::Program,
        cause: "the process was killed with SIGKILL (exit 137), most often for exceeding its memory limit",
        meaning: None,
        suggestion: "raise --memory or reduce memory use; if the host killed it, check dmesg or the platform's OOM events",
        retriable: false,
    },
    BuiltinRule {
        name: "signal:11",
        trigger: "killed by SIGSEGV (signal 11, exit 139)",
        class: ErrClass::Program,
        cause: "the process crashed with a segmentation fault (SIGSEGV, exit 139)",
        meaning: None,
        suggestion: "look for native-code bugs or mismatched libraries; run it under a debugger",
        retriable: false,
    },
    BuiltinRule {
        name: "signal:6",
        trigger: "killed by SIGABRT (signal 6, exit 134)",
        class: ErrClass::Program,
        cause: "the process aborted (SIGABRT, exit 134), usually a failed assertion in native code",
        meaning: None,
        suggestion: "read the lines before the abort in the log",
        retriable: false,
    },
    BuiltinRule {
        name: "signal:7",
        trigger: "killed by SIGBUS (signal 7, exit 135)",
        class: ErrClass::Infra,
        cause: "the process hit a bus error (SIGBUS), often a full /dev/shm",
        meaning: None,
        suggestion: "raise the shared memory size (--shm-size) or reduce data-loader workers",
        retriable: false,
    },
    BuiltinRule {
        name: "signal:15",
        trigger: "killed by SIGTERM (signal 15, exit 143)",
        class: ErrClass::Infra,
        cause: "the process was terminated by SIGTERM from outside the job (preemption, an administrator, a time limit)",
        meaning: None,
        suggestion: "run it again; if it repeats, check the platform's time limits",
        retriable: true,
    },
    BuiltinRule {
        name: "signal:N",
        trigger: "killed by any other signal (exit 128+N)",
        class: ErrClass::Program,
        cause: "the process was killed by {signal_name} (signal {signal})",
        meaning: Some("the process was killed by a signal without a rule of its own"),
        suggestion: "read the end of the log for the reason",
        retriable: false,
    },
    BuiltinRule {
        name: "python_exception",
        trigger: "no log rule matched and the log ends a Python traceback (\"Traceback (most recent call last):\" ... \"Type: message\")",
        class: ErrClass::Program,
        cause: "{exception}",
        meaning: Some(
            "the program raised a Python exception: the cause is its last line (Type: message), the evidence the last frame of your own code",
        ),
        suggestion: "fix the error where your code raised it ({frame}); the whole traceback: hoist logs JOB --tail 80",
        retriable: false,
    },
    BuiltinRule {
        name: "exit:nonzero",
        trigger: "any other non-zero exit code; the last error-looking line of the log is quoted when there is one",
        class: ErrClass::Program,
        cause: "the command exited with code {code}",
        meaning: Some(
            "the command exited with a non-zero code no other rule explains; the cause quotes its last error-looking line",
        ),
        suggestion: "read the end of the log (hoist logs JOB --tail 50) for the error it printed",
        retriable: false,
    },
    BuiltinRule {
        name: "no_exit_code",
        trigger: "the job failed without an exit code (the platform lost it, or it never started)",
        class: ErrClass::Infra,
        cause: "{message}",
        meaning: Some(
            "the job failed without an exit code (the platform lost it, or it never started); the cause is the platform's status message",
        ),
        suggestion: "check the platform (hoist preflight) and run it again",
        retriable: true,
    },
];

/// A builtin rule by name; `signal:N` stands for every signal without a rule of its own.
pub fn builtin(name: &str) -> &'static BuiltinRule {
    BUILTIN_RULES
        .iter()
        .find(|r| r.name == name)
        .or_else(|| BUILTIN_RULES.iter().find(|r| r.name == "signal:N"))
        .unwrap_or(&BUILTIN_RULES[0])
}

/// One rule as `hoist why --rules` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// The name an analysis reports (`log:cuda_oom`, `exit:127`).
    pub name: String,
    /// Class.
    pub err_class: ErrClass,
    /// Whether a retry can help.
    pub retriable: bool,
    /// Cause, placeholders shown as `<name>` (what the log line fills in).
    pub cause: String,
    /// Fix.
    pub suggestion: String,
    /// What triggers it, in words.
    pub trigger: String,
    /// The regex, for a log rule (matched case-insensitively, per line).
    pub pattern: Option<String>,
}

/// Every rule, log rules first (in the order they are tried).
pub fn rules() -> Vec<RuleInfo> {
    let shown = |t: &str| super::matcher::fill(t, |n| Some(format!("<{n}>")));
    let logs = LOG_RULES.iter().map(|r| RuleInfo {
        name: format!("log:{}", r.name),
        err_class: r.class,
        retriable: r.retriable,
        cause: shown(r.cause),
        suggestion: shown(r.suggestion),
        trigger: format!("a log line containing {}", in_words(r.pattern)),
        pattern: Some(r.pattern.to_string()),
    });
    let builtins = BUILTIN_RULES.iter().map(|r| RuleInfo {
        name: r.name.to_string(),
        err_class: r.class,
        retriable: r.retriable,
        cause: r.meaning.map_or_else(|| shown(r.cause), str::to_string),
        suggestion: shown(r.suggestion),
        trigger: r.trigger.to_string(),
        pattern: None,
    });
    logs.chain(builtins).collect()
}

/// The rule named `name` (a log rule also by its bare name: `cuda_oom`), or the names
/// closest to it.
pub fn explain(name: &str) -> Result<RuleInfo, Vec<String>> {
    let all = rules();
    let want = name.trim();
    if let Some(r) = all
        .iter()
        .find(|r| r.name == want || r.name.strip_prefix("log:") == Some(want))
    {
        return Ok(r.clone());
    }
    let mut scored: Vec<(usize, &str)> = all
        .iter()
        .map(|r| {
            let bare = r.name.strip_prefix("log:").unwrap_or(&r.name);
            let d = crate::settings::edit_distance(want, bare)
                .min(crate::settings::edit_distance(want, &r.name));
            let d = if bare.contains(want) || want.contains(bare) {
                0
            } else {
                d
            };
            (d, r.name.as_str())
        })
        .collect();
    scored.sort();
    let limit = (want.chars().count() / 2).max(3);
    Err(scored
        .iter()
        .filter(|(d, _)| *d <= limit)
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect())
}

/// A pattern in words: its alternatives quoted, regex notation read aloud where it is simple.
pub fn in_words(pattern: &str) -> String {
    let alts = split_top(pattern);
    let words: Vec<String> = alts
        .iter()
        .map(|a| format!("\"{}\"", readable(a)))
        .collect();
    match words.len() {
        0 => String::new(),
        1 => words[0].clone(),
        n => format!("{} or {}", words[..n - 1].join(", "), words[n - 1]),
    }
}

/// Split at `|` outside groups and classes.
fn split_top(p: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut class, mut esc) =
        (vec![], String::new(), 0, false, false);
    for c in p.chars() {
        if esc {
            cur.push('\\');
            cur.push(c);
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '[' if !class => {
                class = true;
                cur.push(c)
            }
            ']' if class => {
                class = false;
                cur.push(c)
            }
            '(' if !class => {
                depth += 1;
                cur.push(c)
            }
            ')' if !class => {
                depth -= 1;
                cur.push(c)
            }
            '|' if !class && depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn readable(alt: &str) -> String {
    let mut s = named_groups_as_names(alt).replace("(?:", "(");
    if let Ok(re) = regex::Regex::new(r"\[[^\]]*\](?:[*+?]|\{\d*,?\d*\})?") {
        s = re.replace_all(&s, "…").into_owned();
    }
    for (from, to) in [
        (r"\d+", "N"),
        (r"\d", "N"),
        (r"[^\s\S]", ""),
        (r"\s+", " "),
        (r"\s*", " "),
        (r"\s", " "),
        (r".*?", "…"),
        (r".*", "…"),
        (r".+", "…"),
        (r"\b", ""),
        ("^", ""),
        ("$", ""),
    ] {
        s = s.replace(from, to);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// `(?P<size>[0-9.]+ GiB)` reads `<size>`: what the group stands for, not how it is spelt.
fn named_groups_as_names(p: &str) -> String {
    let Ok(open) = regex::Regex::new(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>") else {
        return p.to_string();
    };
    let mut out = String::new();
    let mut rest = p;
    while let Some(c) = open.captures(rest) {
        let (m, name) = match (c.get(0), c.get(1)) {
            (Some(m), Some(n)) => (m, n.as_str()),
            _ => break,
        };
        out.push_str(&rest[..m.start()]);
        // Skip to the group's closing parenthesis (escapes and classes do not count).
        let (mut depth, mut class, mut esc, mut end) = (1, false, false, rest.len());
        for (i, ch) in rest[m.end()..].char_indices() {
            match ch {
                _ if esc => esc = false,
                '\\' => esc = true,
                '[' if !class => class = true,
                ']' if class => class = false,
                '(' if !class => depth += 1,
                ')' if !class => {
                    depth -= 1;
                    if depth == 0 {
                        end = m.end() + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push_str(&format!("<{name}>"));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_read_aloud() {
        assert_eq!(
            in_words(r"CUDA out of memory|torch\.OutOfMemoryError|Xid.*(?P<code>\d+)"),
            r#""CUDA out of memory", "torch.OutOfMemoryError" or "Xid…<code>""#
        );
        assert_eq!(
            in_words(r"Tried to allocate (?P<size>[0-9.]+ [KMGT]?i?B) \(x\)"),
            r#""Tried to allocate <size> (x)""#
        );
        assert_eq!(
            in_words(r#"could not select device driver "[^"]*" with"#),
            r#""could not select device driver "…" with""#
        );
    }

    #[test]
    fn every_rule_is_listed_once_and_explained() {
        let all = rules();
        let mut names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "rule names are unique");
        for must in [
            "exit:127",
            "signal:9",
            "python_exception",
            "canceled",
            "no_exit_code",
        ] {
            assert!(names.contains(&must), "{must}");
        }
        assert!(
            all.iter()
                .all(|r| !r.cause.is_empty() && !r.suggestion.is_empty())
        );
        let first_log = LOG_RULES.first().map(|r| r.name).unwrap_or_default();
        assert_eq!(
            explain(first_log).map(|r| r.name),
            Ok(format!("log:{first_log}"))
        );
        assert_eq!(explain("exit:127").map(|r| r.pattern), Ok(None));
        let close = explain("exit:12").expect_err("unknown");
        assert!(
            close.iter().any(|n| n == "exit:127" || n == "exit:126"),
            "{close:?}"
        );
        assert_eq!(explain("zzzzzzzzzzzzzzzzzzzz"), Err(vec![]));
    }
}
