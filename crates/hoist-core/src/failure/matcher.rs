//! Matching a job's log against the rule table ([`super::rules::LOG_RULES`]).
//!
//! A rule's `cause` and `suggestion` may name the pattern's capture groups: `{alloc}` is
//! replaced by what `(?P<alloc>...)` matched on the decisive line. A placeholder whose group
//! did not take part in the match takes the parenthesised clause around it with it
//! ("the GPU ran out of memory (tried to allocate {alloc})" reads "the GPU ran out of memory"),
//! or is left out where it stands alone.

use super::ErrClass;
use super::lines::{Line, split};
use super::rules::{LOG_RULES, LogRule};
use regex::{Captures, Regex, RegexSet};
use std::sync::{LazyLock, OnceLock};

fn compile(pattern: &str) -> Regex {
    // The patterns are constants checked by a unit test, so a failure here is a programming
    // error caught before release; fall back to a never-matching regex.
    Regex::new(&format!("(?i){pattern}"))
        .unwrap_or_else(|_| Regex::new(r"[^\s\S]").expect("trivial regex"))
}

/// Each rule's own regex, compiled only when the set says it can match: compiling all of
/// them costs more than reading the log.
static COMPILED: LazyLock<Vec<OnceLock<Regex>>> =
    LazyLock::new(|| LOG_RULES.iter().map(|_| OnceLock::new()).collect());

fn rule_regex(i: usize) -> &'static Regex {
    COMPILED[i].get_or_init(|| compile(LOG_RULES[i].pattern))
}

/// One pass over the whole text tells which rules can match at all, so a long tail is not
/// scanned once per rule.
static SET: LazyLock<Option<RegexSet>> =
    LazyLock::new(|| RegexSet::new(LOG_RULES.iter().map(|r| format!("(?im){}", r.pattern))).ok());

/// The retriable infrastructure patterns as one POSIX extended regex (for `grep -Eiq` inside
/// a job script, where the job can decide to run again without anyone's laptop awake).
pub fn retry_patterns_ere() -> String {
    LOG_RULES
        .iter()
        .filter(|r| r.retriable && r.class == ErrClass::Infra)
        .map(|r| format!("({})", to_ere(r.pattern)))
        .collect::<Vec<_>>()
        .join("|")
}

static NAMED_GROUP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\(\?P?<[A-Za-z_][A-Za-z0-9_]*>|\(\?:").expect("group regex"));

/// A rule pattern in `grep -E` syntax: named and non-capturing groups become plain groups.
fn to_ere(pattern: &str) -> String {
    NAMED_GROUP
        .replace_all(pattern, "(")
        .replace(r"\d", "[0-9]")
        .replace(r"\s", "[[:space:]]")
        .replace(r"\b", "")
}

/// The decisive log line for a rule, and the rule's texts filled from it.
#[derive(Debug, Clone)]
pub struct LogHit {
    /// The rule.
    pub rule: &'static LogRule,
    /// Index of the matching line.
    pub line: usize,
    /// The cause, placeholders filled.
    pub cause: String,
    /// The fix, placeholders filled.
    pub suggestion: String,
}

/// The first rule (table order) matching any line. Among its matching lines: the first one a
/// labelled process printed (the process that failed first), else the last one (the last
/// error is usually the cause; earlier ones are often retried warnings).
pub fn match_lines(lines: &[Line<'_>]) -> Option<LogHit> {
    let candidates: Vec<usize> = match SET.as_ref() {
        Some(set) => {
            let mut text = String::with_capacity(lines.iter().map(|l| l.body.len() + 1).sum());
            for l in lines {
                text.push_str(l.body);
                text.push('\n');
            }
            set.matches(&text).into_iter().collect()
        }
        None => (0..LOG_RULES.len()).collect(),
    };
    for ri in candidates {
        let (rule, re) = (&LOG_RULES[ri], rule_regex(ri));
        let hits: Vec<usize> = (0..lines.len())
            .filter(|&i| re.is_match(lines[i].body))
            .collect();
        let at = hits
            .iter()
            .copied()
            .find(|&i| lines[i].origin.is_labelled())
            .or(hits.last().copied());
        if let Some(at) = at {
            let caps = re.captures(lines[at].body);
            return Some(LogHit {
                rule,
                line: at,
                cause: fill(rule.cause, group(caps.as_ref())),
                suggestion: fill(rule.suggestion, group(caps.as_ref())),
            });
        }
    }
    None
}

/// Find the first log rule matching a line of `log`; the rule and the line (trimmed).
pub fn match_log(log: &str) -> Option<(&'static LogRule, String)> {
    let lines = split(log, None, "");
    match_lines(&lines).map(|h| (h.rule, super::lines::clip(lines[h.line].raw, 400)))
}

static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{([A-Za-z_][A-Za-z0-9_]*)\}").expect("placeholder"));

/// The value of a named group of the decisive line, for [`fill`].
pub fn group<'c>(caps: Option<&'c Captures<'_>>) -> impl Fn(&str) -> Option<String> + 'c {
    move |name| {
        caps.and_then(|c| c.name(name))
            .map(|m| m.as_str().to_string())
    }
}

/// Fill `{name}` placeholders with `value(name)`.
pub fn fill(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = template.to_string();
    // From a cursor, so a value that itself looks like a placeholder is never read again.
    let mut pos = 0;
    while let Some(m) = PLACEHOLDER.captures_at(&out, pos) {
        let whole = m.get(0).map_or(0..0, |g| g.range());
        let name = m.get(1).map_or("", |g| g.as_str()).to_string();
        match value(&name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
        {
            Some(v) => {
                pos = whole.start + v.len();
                out.replace_range(whole, &v);
            }
            None => {
                let open = out[..whole.start].rfind('(');
                let close = out[whole.end..].find(')').map(|c| whole.end + c);
                match (open, close) {
                    (Some(o), Some(c)) if !out[o..whole.start].contains(')') => {
                        let o = if out[..o].ends_with(' ') { o - 1 } else { o };
                        out.replace_range(o..=c, "");
                        pos = o;
                    }
                    _ => {
                        pos = whole.start;
                        out.replace_range(whole, "");
                    }
                }
            }
        }
    }
    out.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

static ERRORISH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(error|errors|exception|fatal|failed|failure|abort|aborted|aborting|killed|panic|segmentation fault|core dumped|no such|cannot|can't|could not|unable to|denied|refused|not found|timed out|timeout)\b",
    )
    .expect("errorish")
});
static NOT_AN_ERROR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)warn|\bdeprecat|\b0 errors?\b|\bno errors?\b|errors?[:=]\s*0\b|\d+%\||\bit/s\b|\bs/it\b|^\s*(info|debug)\b|^\s*\[?(info|debug)\]?[: ]|most recent call last|^\s*[-=*_#]+\s*$",
    )
    .expect("not an error")
});

/// The last line that reads like an error (not a warning or a progress line), when no rule
/// explains the log; its index.
pub fn last_error_line(lines: &[Line<'_>]) -> Option<usize> {
    (0..lines.len()).rev().find(|&i| {
        let b = lines[i].body;
        lines[i].from_log && ERRORISH.is_match(b) && !NOT_AN_ERROR.is_match(b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_from_named_groups() {
        let re = Regex::new(r"Tried to allocate (?P<alloc>[\d.]+ [KMGT]iB)(?:.*?(?P<free>[\d.]+ [KMGT]iB) is free)?").expect("re");
        let c = re.captures("Tried to allocate 2.00 GiB. GPU 0 has 3 GiB of which 1.5 MiB is free");
        assert_eq!(
            fill(
                "out of memory (tried {alloc}, {free} free)",
                group(c.as_ref())
            ),
            "out of memory (tried 2.00 GiB, 1.5 MiB free)"
        );
        let c = re.captures("Tried to allocate 2.00 GiB.");
        assert_eq!(
            fill(
                "out of memory (only {free} free) while allocating {alloc}",
                group(c.as_ref())
            ),
            "out of memory while allocating 2.00 GiB"
        );
        assert_eq!(fill("a {missing} b", |_| None), "a b");
        assert_eq!(fill("no placeholders", |_| None), "no placeholders");
        assert_eq!(fill("v={a}", |_| Some("{a}".into())), "v={a}");
    }

    #[test]
    fn ere_drops_named_groups() {
        assert_eq!(
            to_ere(r"Xid \(PCI:[^)]*\): (?P<code>\d+)(?:, pid)?\b"),
            r"Xid \(PCI:[^)]*\): ([0-9]+)(, pid)?"
        );
        assert_eq!(to_ere(r"(?<n>a)\s"), "(a)[[:space:]]");
    }

    #[test]
    fn error_looking_lines() {
        let ls = split(
            "loading\nERROR: could not open /data/x.bin\n 45%|####| 9/20 [00:01<00:02, 4.2it/s]\nUserWarning: this failed once\nepoch 3 done, errors: 0\n",
            Some(1),
            "",
        );
        assert_eq!(last_error_line(&ls), Some(1));
        let ls = split("all good\nstill good\n", Some(1), "");
        assert_eq!(last_error_line(&ls), None);
    }
}
