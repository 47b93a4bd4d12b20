//! Matching a job's log against the rule table ([`super::rules::LOG_RULES`]).

use super::ErrClass;
use super::rules::{LOG_RULES, LogRule};
use regex::Regex;
use std::sync::LazyLock;

static COMPILED: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    LOG_RULES
        .iter()
        .map(|r| {
            // The patterns are constants checked by a unit test, so a failure here is a
            // programming error caught before release; fall back to a never-matching regex.
            Regex::new(&format!("(?i){}", r.pattern))
                .unwrap_or_else(|_| Regex::new(r"[^\s\S]").expect("trivial regex"))
        })
        .collect()
});

/// The retriable infrastructure patterns as one POSIX extended regex (for `grep -Eiq` inside
/// a job script, where the job can decide to run again without anyone's laptop awake).
pub fn retry_patterns_ere() -> String {
    LOG_RULES
        .iter()
        .filter(|r| r.retriable && r.class == ErrClass::Infra)
        .map(|r| format!("({})", r.pattern.replace(r"\d", "[0-9]").replace(r"\b", "")))
        .collect::<Vec<_>>()
        .join("|")
}

/// Find the first log rule matching a line of `log`, scanning from the end (the last error is
/// usually the cause; earlier ones are often retried warnings).
pub fn match_log(log: &str) -> Option<(&'static LogRule, String)> {
    let lines: Vec<&str> = log.lines().collect();
    for (rule, re) in LOG_RULES.iter().zip(COMPILED.iter()) {
        if let Some(line) = lines.iter().rev().find(|l| re.is_match(l)) {
            return Some((rule, line.trim().chars().take(400).collect()));
        }
    }
    None
}
