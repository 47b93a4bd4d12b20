//! Which process of a multi-process job failed first.
//!
//! Two sources, in this order: the labels on the lines that hold the decisive error (the
//! first labelled process to print it, by line order), and torchrun's `ChildFailedError`
//! summary, whose "Root Cause (first observed failure)" entry names the rank, its exit code,
//! host and (with `@record`) its traceback.

use super::lines::Line;
use regex::Regex;
use std::sync::LazyLock;

/// torchrun's root-cause entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCause {
    /// The global rank.
    pub rank: u32,
    /// Its exit code (negative: the signal that killed it).
    pub exitcode: Option<i32>,
    /// The host it ran on.
    pub host: Option<String>,
    /// The `rank : N` line's index.
    pub line: usize,
    /// The `traceback :` field when it says more than where to read about tracebacks.
    pub traceback: Option<String>,
}

static FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(rank|exitcode|host|traceback|error_file)\s*:\s*(.*?)\s*$")
        .expect("field regex")
});
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^-?\d+").expect("number"));

/// Every root-cause entry torchrun printed (one per agent whose workers failed).
pub fn root_causes(lines: &[Line<'_>]) -> Vec<RootCause> {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if !l
            .body
            .trim()
            .starts_with("Root Cause (first observed failure)")
        {
            continue;
        }
        let mut rc = RootCause {
            rank: 0,
            exitcode: None,
            host: None,
            line: i,
            traceback: None,
        };
        let mut has_rank = false;
        for (j, f) in lines.iter().enumerate().skip(i + 1).take(12) {
            if f.origin != l.origin {
                continue;
            }
            if f.body.trim_start().starts_with("====") {
                break;
            }
            let Some(c) = FIELD.captures(f.body) else {
                continue;
            };
            let value = c.get(2).map_or("", |m| m.as_str());
            let num = NUMBER
                .find(value)
                .and_then(|m| m.as_str().parse::<i64>().ok());
            match c.get(1).map_or("", |m| m.as_str()) {
                "rank" => {
                    if let Some(n) = num.and_then(|n| u32::try_from(n).ok()) {
                        rc.rank = n;
                        rc.line = j;
                        has_rank = true;
                    }
                }
                "exitcode" => rc.exitcode = num.and_then(|n| i32::try_from(n).ok()),
                "host" => rc.host = Some(value.to_string()),
                "traceback" if !value.starts_with("To enable traceback") => {
                    rc.traceback = Some(value.to_string())
                }
                _ => {}
            }
        }
        if has_rank {
            out.push(rc);
        }
    }
    out
}

/// The entry that explains the failure: the first whose process exited with an error of its
/// own (a positive code) rather than being stopped by its agent, else the first.
pub fn first_failure(rcs: &[RootCause]) -> Option<&RootCause> {
    rcs.iter()
        .find(|r| r.exitcode.is_some_and(|c| c > 0))
        .or(rcs.first())
}

#[cfg(test)]
mod tests {
    use super::super::lines::split;
    use super::*;

    #[test]
    fn reads_root_cause_blocks() {
        let log = "\
1: ============================================================
1: train.py FAILED
1: ------------------------------------------------------------
1: Root Cause (first observed failure):
1: [0]:
1:   time      : 2025-02-21_20:07:38
1:   host      : node-b
1:   rank      : 2 (local_rank: 0)
1:   exitcode  : -15 (pid: 14661)
1:   error_file: <N/A>
1:   traceback : Signal 15 (SIGTERM) received by PID 14661
1: ============================================================
0: Root Cause (first observed failure):
0: [0]:
0:   host      : node-a
0:   rank      : 1 (local_rank: 1)
0:   exitcode  : 1 (pid: 99)
0:   traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html
";
        let ls = split(log, Some(1), "");
        let rcs = root_causes(&ls);
        assert_eq!(rcs.len(), 2);
        assert_eq!(rcs[0].exitcode, Some(-15));
        assert_eq!(
            rcs[0].traceback.as_deref(),
            Some("Signal 15 (SIGTERM) received by PID 14661")
        );
        let first = first_failure(&rcs).expect("one");
        assert_eq!(
            (
                first.rank,
                first.host.as_deref(),
                first.traceback.as_deref()
            ),
            (1, Some("node-a"), None)
        );
        assert_eq!(ls[first.line].number, Some(16));
    }
}
