//! Failure analysis rules, as data every platform reuses.
//!
//! A platform supplies what it alone knows (exit code, signal, OOM-killed flag, node events,
//! the last lines of the log); [`analyze`] turns it into one class, one cause, one fix and the
//! evidence that shows why. Order: a platform's own event beats a log pattern, a log pattern
//! beats a Python traceback, which beats the bare exit code, because the more specific signal
//! explains the less specific one (exit 1 after "CUDA out of memory" is the OOM, not "exit 1").
//! In a multi-process job the cause names the process that failed first ([`ranks`]).

use crate::status::JobStatus;
use serde::{Deserialize, Serialize};

pub mod catalog;
mod lines;
mod matcher;
mod ranks;
mod rules;
mod traceback;

pub use catalog::{BUILTIN_RULES, RuleInfo};
pub use matcher::{match_log, retry_patterns_ere};
pub use rules::{LOG_RULES, LogRule};

use lines::{Line, clip};
use matcher::{fill, last_error_line, match_lines};
use traceback::Traceback;

/// How much of a log the analysis needs: the last this many lines …
pub const LOG_TAIL_LINES: usize = 5000;
/// … and at most this many bytes of them, however long the lines (a platform that can seek
/// reads no more than this, so `hoist why` costs the same on a 100 MB log as on a short one).
pub const LOG_TAIL_BYTES: u64 = 1024 * 1024;

/// Log rules that only summarise a child's failure; a Python traceback of the child beats them.
const YIELD_TO_TRACEBACK: &[&str] = &["torchrun_child_failed"];

/// Who has to act: the program's author, the infrastructure, or the job's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrClass {
    /// The command itself failed (bug, OOM from its own use, bad hyper-parameters).
    #[serde(rename = "ERR_PROGRAM")]
    Program,
    /// The platform failed under it (GPU fault, node loss, pull failure, preemption). Retriable.
    #[serde(rename = "ERR_INFRA")]
    Infra,
    /// The job was set up wrong (missing file, module, command, permission, credential).
    #[serde(rename = "ERR_CONFIG")]
    Config,
}

impl ErrClass {
    /// The contract spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrClass::Program => "ERR_PROGRAM",
            ErrClass::Infra => "ERR_INFRA",
            ErrClass::Config => "ERR_CONFIG",
        }
    }
}

/// One piece of evidence, in the TAO shape (`node_event_name`, `message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureEvent {
    /// Short name: `OOMKilled`, `exit_code`, `log:cuda_oom`, `NodeFail` …
    pub node_event_name: String,
    /// What was seen.
    pub message: String,
}

/// One thing seen that supports the cause, quoted as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Where it was seen: `log`, `platform` (its finding or status message), `event` (a node
    /// or container event), `rank` (which process failed first), `exit`, `signal`.
    pub source: String,
    /// 1-based line in the job's log, when known.
    pub line: Option<usize>,
    /// What was seen.
    pub text: String,
}

impl Evidence {
    fn new(source: &str, line: Option<usize>, text: impl Into<String>) -> Self {
        Evidence {
            source: source.into(),
            line,
            text: text.into(),
        }
    }
}

/// A platform's own diagnosis, stronger than anything read from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformFinding {
    /// Class the platform assigns.
    pub err_class: ErrClass,
    /// Cause in one sentence.
    pub cause: String,
    /// What to do.
    pub suggestion: String,
    /// Whether running it again can help.
    pub retriable: bool,
    /// Event name for the evidence list.
    pub event: String,
}

/// What the platform knows about a finished job.
#[derive(Debug, Clone, Default)]
pub struct FailureInput {
    /// Final status.
    pub status: Option<JobStatus>,
    /// Exit code of the command, if it ran.
    pub exit_code: Option<i32>,
    /// Terminating signal, if it was killed.
    pub signal: Option<i32>,
    /// The last lines of the job's output (see [`LOG_TAIL_LINES`], [`LOG_TAIL_BYTES`]).
    pub log_tail: String,
    /// The 1-based line number, in the whole log, of `log_tail`'s first line; `None` when the
    /// platform cannot tell (evidence then quotes lines without their number).
    pub log_start_line: Option<usize>,
    /// Diagnoses only the platform can make, strongest first.
    pub findings: Vec<PlatformFinding>,
    /// Extra evidence (node events, container state) to show as it is.
    pub events: Vec<FailureEvent>,
    /// Status message, used when nothing else explains the failure.
    pub message: String,
}

/// The answer to "why did my job fail?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureAnalysis {
    /// Class.
    pub err_class: ErrClass,
    /// Cause in one sentence.
    pub cause: String,
    /// What to do.
    pub suggestion: String,
    /// Whether retrying the same job can help.
    pub retriable: bool,
    /// The rule that decided (`log:cuda_oom`, `exit:137`, a platform event name).
    pub rule: String,
    /// Evidence in TAO's `job_failure_by_node_event` shape, most telling first.
    pub events: Vec<FailureEvent>,
    /// Evidence with where it was seen (log line numbers), most telling first.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

/// Signal names for messages.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => "a signal",
    }
}

/// The log read once: its lines, tracebacks and torchrun summaries.
struct Log<'a> {
    lines: Vec<Line<'a>>,
    tracebacks: Vec<Traceback>,
}

impl Log<'_> {
    fn quote(&self, i: usize) -> Evidence {
        let l = &self.lines[i];
        let source = if l.from_log { "log" } else { "platform" };
        Evidence::new(source, l.number, clip(l.raw, 400))
    }

    /// The exception line (unless it is `except`) and the user's frame of a traceback.
    fn traceback_evidence(&self, tb: &Traceback, except: Option<usize>) -> Vec<Evidence> {
        let mut out = Vec::new();
        if Some(tb.exception) != except {
            out.push(self.quote(tb.exception));
        }
        if let Some((frame, code)) = tb.user_frame {
            let mut text = clip(self.lines[frame].body, 300);
            if let Some(c) = code {
                text = format!("{text}: {}", clip(self.lines[c].body, 200));
            }
            out.push(Evidence::new("log", self.lines[frame].number, text));
        }
        out
    }

    /// Which process failed first, when the log can tell: the label on the decisive line,
    /// else torchrun's root cause.
    fn first_failure(&self, decisive: Option<usize>) -> Option<(String, Evidence)> {
        if let Some(i) = decisive.filter(|&i| self.lines[i].origin.is_labelled()) {
            let who = self.lines[i].origin.to_string();
            let ev = Evidence::new(
                "rank",
                self.lines[i].number,
                format!("{who} is the first process whose output holds the error"),
            );
            return Some((who, ev));
        }
        let roots = ranks::root_causes(&self.lines);
        let rc = ranks::first_failure(&roots)?;
        let who = format!("rank {}", rc.rank);
        let mut text = format!("torchrun's root cause (first observed failure): {who}");
        if let Some(h) = &rc.host {
            text.push_str(&format!(" on {h}"));
        }
        if let Some(c) = rc.exitcode {
            text.push_str(&format!(", exitcode {c}"));
        }
        if let Some(t) = &rc.traceback {
            text.push_str(&format!(", {}", clip(t, 200)));
        }
        Some((who, Evidence::new("rank", self.lines[rc.line].number, text)))
    }
}

fn builtin_texts(
    name: &str,
    value: impl Fn(&str) -> Option<String> + Copy,
) -> (ErrClass, String, String, bool) {
    let r = catalog::builtin(name);
    (
        r.class,
        fill(r.cause, value),
        fill(r.suggestion, value),
        r.retriable,
    )
}

/// Analyse a job. `None` when there is nothing to explain (it completed, or is still live).
pub fn analyze(input: &FailureInput) -> Option<FailureAnalysis> {
    match input.status {
        Some(JobStatus::Error) | Some(JobStatus::Canceled) | Some(JobStatus::Unknown) => {}
        _ => return None,
    }
    // The status message carries what never reached the log (a failed start, a refused pull).
    let lines = lines::split(&input.log_tail, input.log_start_line, &input.message);
    let log = Log {
        tracebacks: traceback::find(&lines),
        lines,
    };
    // A launcher's summary ("a child failed") yields to the child's own exception when the
    // log has it: the exception says why.
    let hit = match_lines(&log.lines).filter(|h| {
        !(YIELD_TO_TRACEBACK.contains(&h.rule.name)
            && traceback::decisive(&log.tracebacks).is_some_and(|t| !t.is_wrapper()))
    });

    let mut events = input.events.clone();
    let mut tail: Vec<Evidence> = input
        .events
        .iter()
        .map(|e| {
            Evidence::new(
                "event",
                None,
                format!("{}: {}", e.node_event_name, e.message),
            )
        })
        .collect();
    if let Some(code) = input.exit_code {
        events.push(FailureEvent {
            node_event_name: "exit_code".into(),
            message: code.to_string(),
        });
        tail.push(Evidence::new("exit", None, format!("exit code {code}")));
    }
    if let Some(sig) = input.signal {
        let text = format!("{sig} ({})", signal_name(sig));
        events.push(FailureEvent {
            node_event_name: "signal".into(),
            message: text.clone(),
        });
        tail.push(Evidence::new("signal", None, text));
    }
    if let Some(h) = &hit {
        events.insert(
            0,
            FailureEvent {
                node_event_name: format!("log:{}", h.rule.name),
                message: clip(log.lines[h.line].raw, 400),
            },
        );
    }
    // The decisive log line with the traceback it ends, quoted whatever decides.
    let hit_evidence = |h: &matcher::LogHit| {
        let mut ev = vec![log.quote(h.line)];
        if let Some(tb) = traceback::around(&log.tracebacks, &log.lines, h.line) {
            ev.extend(log.traceback_evidence(&tb, Some(h.line)));
        }
        ev
    };
    let done =
        |class, cause: String, suggestion: String, retriable, rule: String, events, evidence| {
            Some(FailureAnalysis {
                err_class: class,
                cause,
                suggestion,
                retriable,
                rule,
                events,
                evidence,
            })
        };
    let none = |_: &str| None;

    if input.status == Some(JobStatus::Canceled) {
        let (class, cause, fix, retriable) = builtin_texts("canceled", none);
        let mut evidence = hit.as_ref().map(&hit_evidence).unwrap_or_default();
        evidence.extend(tail);
        return done(
            class,
            cause,
            fix,
            retriable,
            "canceled".into(),
            events,
            evidence,
        );
    }
    if let Some(f) = input.findings.first() {
        events.insert(
            0,
            FailureEvent {
                node_event_name: f.event.clone(),
                message: f.cause.clone(),
            },
        );
        let mut evidence = vec![Evidence::new(
            "platform",
            None,
            format!("{}: {}", f.event, f.cause),
        )];
        evidence.extend(hit.as_ref().map(&hit_evidence).unwrap_or_default());
        evidence.extend(tail);
        return done(
            f.err_class,
            f.cause.clone(),
            f.suggestion.clone(),
            f.retriable,
            f.event.clone(),
            events,
            evidence,
        );
    }
    if let Some(h) = &hit {
        let mut evidence = hit_evidence(h);
        let mut cause = h.cause.clone();
        if let Some((who, ev)) = log.first_failure(Some(h.line)) {
            if !cause.contains("failed first") {
                cause = format!("{who} failed first: {cause}");
            }
            evidence.push(ev);
        }
        evidence.extend(tail);
        return done(
            h.rule.class,
            cause,
            h.suggestion.clone(),
            h.rule.retriable,
            format!("log:{}", h.rule.name),
            events,
            evidence,
        );
    }
    let error_line = last_error_line(&log.lines);
    let sig = input.signal.or(match input.exit_code {
        Some(c) if (129..=159).contains(&c) => Some(c - 128),
        _ => None,
    });
    let (rule, cause_of): (String, Option<i32>) = match (input.exit_code, sig) {
        (Some(c @ (126 | 127)), _) => (format!("exit:{c}"), None),
        (_, Some(s)) => (format!("signal:{s}"), Some(s)),
        _ => (String::new(), None),
    };
    if !rule.is_empty() {
        let sig_name = cause_of.map(signal_name).unwrap_or_default();
        let value = |n: &str| match n {
            "signal" => cause_of.map(|s| s.to_string()),
            "signal_name" => Some(sig_name.to_string()),
            _ => None,
        };
        let (class, cause, fix, retriable) = builtin_texts(&rule, value);
        let mut evidence: Vec<Evidence> = error_line.map(|i| log.quote(i)).into_iter().collect();
        evidence.extend(tail);
        return done(class, cause, fix, retriable, rule, events, evidence);
    }
    if let Some(tb) = traceback::decisive(&log.tracebacks) {
        let exception = clip(log.lines[tb.exception].body, 200);
        let frame = tb
            .user_frame
            .map(|(f, _)| log.lines[f].body.trim().to_string());
        let (class, mut cause, fix, retriable) = builtin_texts("python_exception", |n| match n {
            "exception" => Some(exception.clone()),
            "frame" => frame.clone(),
            _ => None,
        });
        events.insert(
            0,
            FailureEvent {
                node_event_name: "log:python_exception".into(),
                message: clip(log.lines[tb.exception].raw, 400),
            },
        );
        let mut evidence = log.traceback_evidence(tb, None);
        if let Some((who, ev)) = log.first_failure(Some(tb.exception)) {
            cause = format!("{who} failed first: {cause}");
            evidence.push(ev);
        }
        evidence.extend(tail);
        return done(
            class,
            cause,
            fix,
            retriable,
            "python_exception".into(),
            events,
            evidence,
        );
    }
    let mut evidence: Vec<Evidence> = error_line.map(|i| log.quote(i)).into_iter().collect();
    if let Some(code) = input.exit_code.filter(|c| *c != 0) {
        let (class, mut cause, fix, retriable) =
            builtin_texts("exit:nonzero", |n| (n == "code").then(|| code.to_string()));
        if let Some(i) = error_line {
            cause = format!(
                "{cause} after printing \"{}\"",
                clip(log.lines[i].body, 160)
            );
        }
        if let Some((who, ev)) = log.first_failure(error_line) {
            cause = format!("{who} failed first: {cause}");
            evidence.push(ev);
        }
        evidence.extend(tail);
        return done(
            class,
            cause,
            fix,
            retriable,
            "exit:nonzero".into(),
            events,
            evidence,
        );
    }
    let message = if input.message.is_empty() {
        "the job failed without an exit code".to_string()
    } else {
        input.message.clone()
    };
    let (class, cause, fix, retriable) = builtin_texts("no_exit_code", |n| {
        (n == "message").then(|| message.clone())
    });
    evidence.extend(tail);
    done(
        class,
        cause,
        fix,
        retriable,
        "no_exit_code".into(),
        events,
        evidence,
    )
}

/// The cause to run a failed job again for, when its own log shows the infrastructure
/// failed it: a retriable `ERR_INFRA` log rule (a GPU that fell off the bus, an Xid, an NCCL
/// or InfiniBand error), as "cause: decisive line" with the line cut to `line_chars`. A
/// platform finding, an exit code or a signal never counts (a rerun would meet them again).
pub fn infra_retry_cause(input: &FailureInput, line_chars: usize) -> Option<String> {
    let a = analyze(input)?;
    if a.err_class != ErrClass::Infra || !a.retriable || !a.rule.starts_with("log:") {
        return None;
    }
    let line: String = a
        .events
        .first()
        .map(|e| e.message.chars().take(line_chars).collect())
        .unwrap_or_default();
    Some(if line.is_empty() {
        a.cause
    } else {
        format!("{}: {line}", a.cause)
    })
}

#[cfg(test)]
mod tests;
