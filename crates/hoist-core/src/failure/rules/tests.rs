//! The table's own invariants, and its link to the corpus of real logs
//! (`crates/hoist-cli/tests/corpus`): every rule has a case, and every case's expected rule
//! is the one the table's order picks.

use super::{LOG_RULES, LogRule};
use crate::failure::ErrClass;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn compiled(r: &LogRule) -> Regex {
    Regex::new(&format!("(?i){}", r.pattern))
        .unwrap_or_else(|e| panic!("rule {} does not compile: {e}", r.name))
}

/// One corpus case: its path, the expected rule (without `log:`) and the log body.
struct Case {
    path: PathBuf,
    rule: Option<String>,
    body: String,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hoist-cli/tests/corpus")
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut stack = vec![corpus_dir()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read the corpus at {}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let (head, body) = text.split_once("\n---\n").unwrap_or_else(|| {
                    panic!("{}: no `---` line after the header", path.display())
                });
                let rule = head
                    .lines()
                    .find_map(|l| l.strip_prefix("# expect-rule: "))
                    .map(|r| r.trim().trim_start_matches("log:").to_string());
                out.push(Case {
                    path,
                    rule,
                    body: body.to_string(),
                });
            }
        }
    }
    out
}

#[test]
fn names_are_unique_and_patterns_compile() {
    let mut seen = BTreeSet::new();
    for r in LOG_RULES {
        compiled(r);
        assert!(seen.insert(r.name), "rule name {} is used twice", r.name);
        assert!(
            !r.cause.is_empty() && !r.suggestion.is_empty(),
            "{}",
            r.name
        );
    }
}

#[test]
fn only_infrastructure_is_retriable() {
    for r in LOG_RULES.iter().filter(|r| r.retriable) {
        assert_eq!(r.class, ErrClass::Infra, "{} is retriable", r.name);
    }
}

#[test]
fn retry_patterns_stay_plain_posix() {
    // They become one `grep -Ei '...'` inside SLURM job scripts.
    for r in LOG_RULES.iter().filter(|r| r.retriable) {
        for bad in ["(?", "'", "\\s", "\\w", "[\\d"] {
            assert!(
                !r.pattern.contains(bad),
                "{}: {bad} is not grep -E syntax",
                r.name
            );
        }
    }
}

#[test]
fn placeholders_name_groups_of_the_pattern() {
    let placeholder = Regex::new(r"\{([a-z_]+)\}").expect("regex");
    for r in LOG_RULES {
        let re = compiled(r);
        let groups: BTreeSet<&str> = re.capture_names().flatten().collect();
        for text in [r.cause, r.suggestion] {
            for c in placeholder.captures_iter(text) {
                assert!(
                    groups.contains(&c[1]),
                    "{}: {{{}}} is not a named group of its pattern",
                    r.name,
                    &c[1]
                );
            }
        }
    }
}

#[test]
fn every_rule_has_a_corpus_case() {
    let covered: BTreeSet<String> = cases().into_iter().filter_map(|c| c.rule).collect();
    let missing: Vec<&str> = LOG_RULES
        .iter()
        .map(|r| r.name)
        .filter(|n| !covered.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a case under {}: {missing:?} (a new rule is a table entry plus a corpus case)",
        corpus_dir().display()
    );
}

#[test]
fn the_table_order_picks_each_cases_rule() {
    // The matcher's contract: the first rule in table order that matches any line wins.
    let rules: Vec<(&LogRule, Regex)> = LOG_RULES.iter().map(|r| (r, compiled(r))).collect();
    let names: BTreeSet<&str> = LOG_RULES.iter().map(|r| r.name).collect();
    let mut wrong = BTreeMap::new();
    for case in cases() {
        let Some(want) = case.rule.filter(|w| names.contains(w.as_str())) else {
            continue; // expectations met outside the table (python_exception, exit codes)
        };
        let got = rules
            .iter()
            .find(|(_, re)| case.body.lines().any(|l| re.is_match(l)))
            .map(|(r, _)| r.name)
            .unwrap_or("(none)");
        if got != want {
            wrong.insert(
                case.path.display().to_string(),
                format!("want {want}, got {got}"),
            );
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cases picked the wrong rule: {wrong:#?}",
        wrong.len()
    );
}
