//! Failure analysis rules, as data every platform reuses.
//!
//! A platform supplies what it alone knows (exit code, signal, OOM-killed flag, node events,
//! the last lines of the log); [`analyze`] turns it into one class, one cause and one fix.
//! Order of evidence: a platform's own event beats a log pattern, a log pattern beats the bare
//! exit code, because the more specific signal explains the less specific one (exit 1 after
//! "CUDA out of memory" is the OOM, not "exit 1").

use crate::status::JobStatus;
use serde::{Deserialize, Serialize};

mod matcher;
mod rules;

pub use matcher::{match_log, retry_patterns_ere};
pub use rules::{LOG_RULES, LogRule};

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
    /// The last lines of the job's output.
    pub log_tail: String,
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
    /// Evidence, most telling first.
    pub events: Vec<FailureEvent>,
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

/// Analyse a job. `None` when there is nothing to explain (it completed, or is still live).
pub fn analyze(input: &FailureInput) -> Option<FailureAnalysis> {
    match input.status {
        Some(JobStatus::Error) | Some(JobStatus::Canceled) | Some(JobStatus::Unknown) => {}
        _ => return None,
    }
    let mut events = input.events.clone();
    if let Some(code) = input.exit_code {
        events.push(FailureEvent {
            node_event_name: "exit_code".into(),
            message: code.to_string(),
        });
    }
    if let Some(sig) = input.signal {
        events.push(FailureEvent {
            node_event_name: "signal".into(),
            message: format!("{sig} ({})", signal_name(sig)),
        });
    }
    // The status message carries what never reached the log (a failed start, a refused pull).
    let log_hit = match_log(&format!("{}\n{}", input.log_tail, input.message));
    if let Some((rule, line)) = &log_hit {
        events.insert(
            0,
            FailureEvent {
                node_event_name: format!("log:{}", rule.name),
                message: line.clone(),
            },
        );
    }
    let done = |class, cause: String, suggestion: String, retriable, rule: String, events| {
        Some(FailureAnalysis {
            err_class: class,
            cause,
            suggestion,
            retriable,
            rule,
            events,
        })
    };
    if input.status == Some(JobStatus::Canceled) {
        return done(
            ErrClass::Program,
            "the job was canceled".into(),
            "nothing to fix; run it again if the cancel was a mistake".into(),
            false,
            "canceled".into(),
            events,
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
        return done(
            f.err_class,
            f.cause.clone(),
            f.suggestion.clone(),
            f.retriable,
            f.event.clone(),
            events,
        );
    }
    if let Some((rule, _)) = log_hit {
        return done(
            rule.class,
            rule.cause.into(),
            rule.suggestion.into(),
            rule.retriable,
            format!("log:{}", rule.name),
            events,
        );
    }
    let sig = input.signal.or(match input.exit_code {
        Some(c) if (129..=159).contains(&c) => Some(c - 128),
        _ => None,
    });
    if let Some(code) = input.exit_code.filter(|c| matches!(c, 126 | 127)) {
        let (cause, fix) = if code == 126 {
            (
                "the command was found but could not be executed (exit 126)",
                "make it executable (chmod +x) and check its interpreter line",
            )
        } else {
            (
                "the command was not found (exit 127)",
                "check the command name and PATH, or install it in the image",
            )
        };
        return done(
            ErrClass::Config,
            cause.into(),
            fix.into(),
            false,
            format!("exit:{code}"),
            events,
        );
    }
    if let Some(sig) = sig {
        let (class, cause, fix, retriable) = match sig {
            9 => (
                ErrClass::Program,
                "the process was killed with SIGKILL (exit 137), most often for exceeding its memory limit",
                "raise --memory or reduce memory use; if the host killed it, check dmesg or the platform's OOM events",
                false,
            ),
            11 => (
                ErrClass::Program,
                "the process crashed with a segmentation fault (SIGSEGV, exit 139)",
                "look for native-code bugs or mismatched libraries; run it under a debugger",
                false,
            ),
            6 => (
                ErrClass::Program,
                "the process aborted (SIGABRT, exit 134), usually a failed assertion in native code",
                "read the lines before the abort in the log",
                false,
            ),
            7 => (
                ErrClass::Infra,
                "the process hit a bus error (SIGBUS), often a full /dev/shm",
                "raise the shared memory size (--shm-size) or reduce data-loader workers",
                false,
            ),
            15 => (
                ErrClass::Infra,
                "the process was terminated by SIGTERM from outside the job (preemption, an administrator, a time limit)",
                "run it again; if it repeats, check the platform's time limits",
                true,
            ),
            _ => (
                ErrClass::Program,
                "",
                "read the end of the log for the reason",
                false,
            ),
        };
        let cause = if cause.is_empty() {
            format!(
                "the process was killed by {} (signal {sig})",
                signal_name(sig)
            )
        } else {
            cause.to_string()
        };
        return done(
            class,
            cause,
            fix.into(),
            retriable,
            format!("signal:{sig}"),
            events,
        );
    }
    if let Some(code) = input.exit_code.filter(|c| *c != 0) {
        return done(
            ErrClass::Program,
            format!("the command exited with code {code}"),
            "read the end of the log (hoist logs JOB --tail 50) for the error it printed".into(),
            false,
            "exit:nonzero".into(),
            events,
        );
    }
    let msg = if input.message.is_empty() {
        "the job failed without an exit code".to_string()
    } else {
        input.message.clone()
    };
    done(
        ErrClass::Infra,
        msg,
        "check the platform (hoist preflight) and run it again".into(),
        true,
        "no_exit_code".into(),
        events,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn err(exit: Option<i32>, log: &str) -> FailureAnalysis {
        analyze(&FailureInput {
            status: Some(JobStatus::Error),
            exit_code: exit,
            log_tail: log.into(),
            ..Default::default()
        })
        .expect("analysis")
    }

    #[test]
    fn every_pattern_compiles() {
        for r in LOG_RULES {
            assert!(
                Regex::new(&format!("(?i){}", r.pattern)).is_ok(),
                "{}",
                r.name
            );
        }
    }

    #[test]
    fn log_patterns_classify() {
        let cases = [
            (
                "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
                "log:cuda_oom",
                ErrClass::Program,
            ),
            (
                "NVRM: Xid (PCI:0000:3b:00): 79, pid=1, GPU has fallen off the bus.",
                "log:gpu_fell_off_bus",
                ErrClass::Infra,
            ),
            (
                "NVRM: Xid (PCI:0000:3b:00): 48, pid=1",
                "log:xid",
                ErrClass::Infra,
            ),
            (
                "misc/socket.cc:50 NCCL WARN Net : Connect to 10.0.0.1 failed",
                "log:nccl",
                ErrClass::Infra,
            ),
            (
                "RuntimeError: No CUDA-capable device is detected",
                "log:cuda_init",
                ErrClass::Infra,
            ),
            (
                "ModuleNotFoundError: No module named 'timm'",
                "log:module_not_found",
                ErrClass::Config,
            ),
            (
                "FileNotFoundError: [Errno 2] No such file or directory: '/data/x'",
                "log:no_such_file",
                ErrClass::Config,
            ),
            (
                "sh: 1: trian.py: not found",
                "log:command_not_found",
                ErrClass::Config,
            ),
        ];
        for (line, rule, class) in cases {
            let a = err(Some(1), &format!("epoch 1\n{line}\n"));
            assert_eq!(a.rule, rule, "{line}");
            assert_eq!(a.err_class, class, "{line}");
            assert_eq!(a.retriable, class == ErrClass::Infra);
            assert!(a.events[0].message.contains(line.trim()));
        }
    }

    #[test]
    fn exit_codes_classify() {
        assert_eq!(err(Some(137), "").rule, "signal:9");
        assert_eq!(err(Some(139), "").rule, "signal:11");
        assert_eq!(err(Some(127), "").err_class, ErrClass::Config);
        assert_eq!(err(Some(126), "").rule, "exit:126");
        assert_eq!(err(Some(143), "").err_class, ErrClass::Infra);
        let a = err(Some(3), "all fine\n");
        assert_eq!(
            (a.err_class, a.rule.as_str()),
            (ErrClass::Program, "exit:nonzero")
        );
        assert!(a.cause.contains('3'));
        assert_eq!(err(None, "").rule, "no_exit_code");
    }

    #[test]
    fn platform_findings_win() {
        let a = analyze(&FailureInput {
            status: Some(JobStatus::Error),
            exit_code: Some(137),
            log_tail: "CUDA out of memory".into(),
            findings: vec![PlatformFinding {
                err_class: ErrClass::Program,
                cause: "OOMKilled".into(),
                suggestion: "more memory".into(),
                retriable: false,
                event: "OOMKilled".into(),
            }],
            ..Default::default()
        })
        .expect("analysis");
        assert_eq!(a.rule, "OOMKilled");
        assert_eq!(a.events[0].node_event_name, "OOMKilled");
    }

    #[test]
    fn nothing_to_explain() {
        assert!(
            analyze(&FailureInput {
                status: Some(JobStatus::Complete),
                exit_code: Some(0),
                ..Default::default()
            })
            .is_none()
        );
        assert!(
            analyze(&FailureInput {
                status: Some(JobStatus::Running),
                ..Default::default()
            })
            .is_none()
        );
        let c = analyze(&FailureInput {
            status: Some(JobStatus::Canceled),
            ..Default::default()
        })
        .expect("canceled");
        assert_eq!(c.rule, "canceled");
    }

    #[test]
    fn retry_patterns_for_grep() {
        let ere = retry_patterns_ere();
        assert!(
            ere.contains("fallen off the bus")
                && ere.contains("NCCL")
                && !ere.contains("out of memory")
        );
        assert!(
            !ere.contains(r"\d") && !ere.contains('\''),
            "grep -E syntax, safe in single quotes: {ere}"
        );
    }

    #[test]
    fn serialized_class_names() {
        assert_eq!(
            serde_json::to_string(&ErrClass::Infra).ok().as_deref(),
            Some("\"ERR_INFRA\"")
        );
    }
}
