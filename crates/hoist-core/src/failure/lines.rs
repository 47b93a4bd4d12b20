//! A job's log as lines with their origin: which rank or task printed each one.
//!
//! Multi-process launchers label what their children print: PyTorch (2.4 and later) prefixes
//! each worker line with `[rankN]:`, some launchers with `rankN:`, and `srun --label` with the
//! task number (`N: `). Rules match the text after the label, so an anchored pattern works
//! whatever launched the job, and the label tells which process said it.

use regex::Regex;
use std::fmt;
use std::sync::LazyLock;

/// Who printed a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Origin {
    /// The `srun --label` task number.
    pub task: Option<u32>,
    /// The distributed rank (`[rankN]:` or `rankN:`).
    pub rank: Option<u32>,
}

impl Origin {
    /// Whether the line carried a label at all.
    pub fn is_labelled(&self) -> bool {
        self.task.is_some() || self.rank.is_some()
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.rank, self.task) {
            (Some(r), _) => write!(f, "rank {r}"),
            (None, Some(t)) => write!(f, "task {t}"),
            (None, None) => f.write_str("the job"),
        }
    }
}

/// One line of the log.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    /// 1-based line number in the whole log, when the platform knows where its tail starts.
    pub number: Option<usize>,
    /// Who printed it.
    pub origin: Origin,
    /// The text after the label.
    pub body: &'a str,
    /// The line as printed (label included), for quoting.
    pub raw: &'a str,
    /// Whether it came from the log (false: the platform's status message).
    pub from_log: bool,
}

static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s{0,6}(?:(\d{1,5}): )?(?:\[rank(\d{1,6})\]: ?|rank(\d{1,6}): )?")
        .expect("label regex")
});

/// Split `log` (whose first line is number `start`, when known) and the platform's status
/// `message` into labelled lines.
pub fn split<'a>(log: &'a str, start: Option<usize>, message: &'a str) -> Vec<Line<'a>> {
    let mut out = Vec::new();
    for (i, raw) in log.lines().enumerate() {
        out.push(line(raw, start.map(|s| s + i), true));
    }
    for raw in message.lines() {
        out.push(line(raw, None, false));
    }
    out
}

fn line(raw: &str, number: Option<usize>, from_log: bool) -> Line<'_> {
    // A progress bar redraws itself with carriage returns: only its last state is a line.
    let raw = raw
        .rsplit('\r')
        .find(|s| !s.trim().is_empty())
        .unwrap_or("");
    let mut origin = Origin::default();
    let mut body = raw;
    if let Some(c) = LABEL.captures(raw) {
        let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
        origin.task = num(1);
        origin.rank = num(2).or(num(3));
        if origin.is_labelled() {
            body = &raw[c.get(0).map_or(0, |m| m.end())..];
        }
    }
    Line {
        number,
        origin,
        body,
        raw: raw.trim_end(),
        from_log,
    }
}

/// Trim to at most `max` characters, marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_read_and_stripped() {
        let ls = split(
            "[rank3]: RuntimeError: x\n1: [rank5]:[E615 21:49] y\nrank2: z\n 0: srun line\nplain: text\n12% |###| 3/25\r100% done",
            Some(10),
            "status says",
        );
        assert_eq!(ls[0].origin.rank, Some(3));
        assert_eq!(ls[0].body, "RuntimeError: x");
        assert_eq!(ls[0].number, Some(10));
        assert_eq!((ls[1].origin.task, ls[1].origin.rank), (Some(1), Some(5)));
        assert_eq!(ls[1].body, "[E615 21:49] y");
        assert_eq!(ls[2].origin.rank, Some(2));
        assert_eq!((ls[3].origin.task, ls[3].body), (Some(0), "srun line"));
        assert!(!ls[4].origin.is_labelled());
        assert_eq!(ls[4].body, "plain: text");
        assert_eq!(ls[5].body, "100% done");
        assert!(!ls[6].from_log && ls[6].number.is_none());
        assert_eq!(ls[1].origin.to_string(), "rank 5");
        assert_eq!(ls[3].origin.to_string(), "task 0");
    }

    #[test]
    fn clip_marks_the_cut() {
        assert_eq!(clip("  short ", 10), "short");
        assert_eq!(clip("abcdefghij", 5), "abcd…");
    }
}
