//! Python tracebacks in a log: the exception that ended each one and the last frame of the
//! user's own code above it (the frame a person would open first).
//!
//! Each origin (rank, task) is read as its own stream, because launchers interleave what
//! several processes print line by line.

use super::lines::{Line, Origin};
use regex::Regex;
use std::collections::HashMap;
use std::sync::LazyLock;

/// The user's frame: the `File "..."` line and the code line under it, by index.
pub type Frame = (usize, Option<usize>);

/// One traceback, by index into the lines it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traceback {
    /// Who printed it.
    pub origin: Origin,
    /// The `Traceback (most recent call last):` line.
    pub start: usize,
    /// The exception line (`ValueError: bad value`).
    pub exception: usize,
    /// The exception's type, as printed (`torch.OutOfMemoryError`).
    pub exc_type: String,
    /// The last `File "..."` frame outside installed libraries, and the code line under it.
    pub user_frame: Option<Frame>,
}

impl Traceback {
    /// Raised by a launcher about a child that failed: the child's own traceback says more.
    pub fn is_wrapper(&self) -> bool {
        ["ChildFailedError", "CalledProcessError"]
            .iter()
            .any(|w| self.exc_type.ends_with(w))
    }
}

static EXCEPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?::(?:\s.*)?)?$")
        .expect("exception regex")
});
static FRAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^\s*File "([^"]+)", line \d+"#).expect("frame regex"));

/// Paths that belong to installed packages or the interpreter, not to the user's program.
fn is_library(path: &str) -> bool {
    let p = path.replace('\\', "/");
    p.starts_with('<')
        || [
            "site-packages/",
            "dist-packages/",
            "/lib/python3",
            "/lib64/python3",
            "/usr/lib/python",
            "/torch/",
            "/runpy.py",
        ]
        .iter()
        .any(|m| p.contains(m))
}

/// Every complete traceback in `lines`, in the order their exception lines appear.
pub fn find(lines: &[Line<'_>]) -> Vec<Traceback> {
    struct Open {
        start: usize,
        user: Option<Frame>,
        awaiting_code: bool,
    }
    let mut open: HashMap<Origin, Open> = HashMap::new();
    let mut last_end: HashMap<Origin, (usize, Option<Frame>)> = HashMap::new();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if !l.from_log {
            continue;
        }
        let body = l.body.trim_end();
        if body
            .trim_start()
            .starts_with("Traceback (most recent call last):")
        {
            open.insert(
                l.origin,
                Open {
                    start: i,
                    user: None,
                    awaiting_code: false,
                },
            );
            continue;
        }
        let Some(tb) = open.get_mut(&l.origin) else {
            continue;
        };
        if body.is_empty() || body.starts_with(char::is_whitespace) {
            if let Some(c) = FRAME.captures(body) {
                let user = c.get(1).is_some_and(|p| !is_library(p.as_str()));
                if user {
                    tb.user = Some((i, None));
                }
                tb.awaiting_code = user;
            } else if tb.awaiting_code && !body.trim().is_empty() {
                if let Some((_, code)) = &mut tb.user {
                    *code = Some(i);
                }
                tb.awaiting_code = false;
            }
            continue;
        }
        let Some(tb) = open.remove(&l.origin) else {
            continue;
        };
        let Some(c) = EXCEPTION.captures(body) else {
            continue;
        };
        let exc_type = c.get(1).map_or("", |m| m.as_str()).to_string();
        // A chained exception raised inside a library keeps the frame of the one it chains.
        let user = tb.user.or_else(|| {
            last_end
                .get(&l.origin)
                .filter(|(end, _)| tb.start.saturating_sub(*end) <= 4)
                .and_then(|(_, u)| *u)
        });
        last_end.insert(l.origin, (i, user));
        out.push(Traceback {
            origin: l.origin,
            start: tb.start,
            exception: i,
            exc_type,
            user_frame: user,
        });
    }
    out
}

/// The traceback that explains the failure: a child's rather than its launcher's; among
/// labelled processes the first to fail (by line order), else the last one printed.
pub fn decisive(tbs: &[Traceback]) -> Option<&Traceback> {
    let own: Vec<&Traceback> = tbs.iter().filter(|t| !t.is_wrapper()).collect();
    let pool: Vec<&Traceback> = if own.is_empty() {
        tbs.iter().collect()
    } else {
        own
    };
    if let Some(first) = pool.iter().find(|t| t.origin.is_labelled()) {
        return Some(first);
    }
    pool.last().copied()
}

/// The traceback a matched line belongs to: the one it ends, or the one whose exception
/// message it continues (a few lines below the exception line, same origin).
pub fn around(tbs: &[Traceback], lines: &[Line<'_>], at: usize) -> Option<Traceback> {
    let origin = lines.get(at)?.origin;
    tbs.iter()
        .filter(|t| t.origin == origin && t.exception <= at && at - t.exception <= 10)
        .max_by_key(|t| t.exception)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::super::lines::split;
    use super::*;

    const TB: &str = r#"epoch 1
Traceback (most recent call last):
  File "/work/train.py", line 40, in <module>
    main()
  File "/work/train.py", line 31, in main
    loss = step(batch)
           ^^^^^^^^^^^
  File "/usr/lib/python3.11/site-packages/torch/nn/modules/module.py", line 1501, in _call_impl
    return forward_call(*args, **kwargs)
ValueError: expected 3 channels, got 4
"#;

    #[test]
    fn exception_and_user_frame() {
        let ls = split(TB, Some(1), "");
        let tbs = find(&ls);
        assert_eq!(tbs.len(), 1);
        let t = &tbs[0];
        assert_eq!(t.exc_type, "ValueError");
        assert_eq!(ls[t.exception].number, Some(10));
        let (frame, code) = t.user_frame.expect("user frame");
        assert!(ls[frame].body.contains("line 31, in main"));
        assert_eq!(code.map(|c| ls[c].body.trim()), Some("loss = step(batch)"));
    }

    #[test]
    fn chained_and_wrapped() {
        let log = format!(
            "{TB}\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"/opt/venv/lib/python3.10/site-packages/x.py\", line 3, in f\n    g()\nRuntimeError: wrapped\nTraceback (most recent call last):\n  File \"/usr/bin/torchrun\", line 8, in <module>\ntorch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n"
        );
        let ls = split(&log, Some(1), "");
        let tbs = find(&ls);
        assert_eq!(tbs.len(), 3);
        let d = decisive(&tbs).expect("decisive");
        assert_eq!(d.exc_type, "RuntimeError");
        let (frame, _) = d.user_frame.expect("inherited from the chained one");
        assert!(ls[frame].body.contains("line 31"));
    }

    #[test]
    fn interleaved_ranks_first_wins() {
        let log = "[rank1]: Traceback (most recent call last):\n[rank0]: Traceback (most recent call last):\n[rank1]:   File \"/w/a.py\", line 2, in <module>\n[rank0]:   File \"/w/a.py\", line 2, in <module>\n[rank1]: KeyError: 'x'\n[rank0]: KeyError: 'x'\n";
        let ls = split(log, Some(1), "");
        let tbs = find(&ls);
        assert_eq!(tbs.len(), 2);
        assert_eq!(decisive(&tbs).map(|t| t.origin.rank), Some(Some(1)));
    }

    #[test]
    fn libraries_are_not_user_code() {
        assert!(is_library(
            "/usr/local/lib/python3.10/dist-packages/torch/x.py"
        ));
        assert!(is_library("<frozen runpy>"));
        assert!(!is_library("/workspace/train.py"));
    }
}
