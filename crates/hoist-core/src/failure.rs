//! Failure analysis rules, as data every platform reuses.
//!
//! A platform supplies what it alone knows (exit code, signal, OOM-killed flag, node events,
//! the last lines of the log); [`analyze`] turns it into one class, one cause and one fix.
//! Order of evidence: a platform's own event beats a log pattern, a log pattern beats the bare
//! exit code, because the more specific signal explains the less specific one (exit 1 after
//! "CUDA out of memory" is the OOM, not "exit 1").

use crate::status::JobStatus;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

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

/// A log pattern and what it means.
#[derive(Debug)]
pub struct LogRule {
    /// Rule name (`log:<name>` in the analysis).
    pub name: &'static str,
    /// Case-insensitive regex, matched per line.
    pub pattern: &'static str,
    /// Class.
    pub class: ErrClass,
    /// Cause.
    pub cause: &'static str,
    /// Fix.
    pub suggestion: &'static str,
    /// Whether a retry can help.
    pub retriable: bool,
}

/// Log patterns, most specific first. Infrastructure patterns double as the retry triggers
/// (GPU faults, interconnect and driver failures).
pub static LOG_RULES: &[LogRule] = &[
    // The staging runner's own lines (hoist-staging's runner prefixes each with
    // `hoist-runner:`): they come before the command ran, or after it ended.
    LogRule {
        name: "input_missing",
        pattern: r"hoist-runner: input .* does not exist",
        class: ErrClass::Config,
        cause: "an input of the job does not exist, so the command was never started",
        suggestion: "check the URI (hoist check-path URI; hoist ls-path on its parent lists what is there) and fix --input or the spec",
        retriable: false,
    },
    LogRule {
        name: "input_access_denied",
        pattern: r"hoist-runner: .*access refused",
        class: ErrClass::Config,
        cause: "the object store refused the job's credentials",
        suggestion: "export the right ACCESS_KEY/SECRET_KEY (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and S3_ENDPOINT_URL, or HF_TOKEN, where you run hoist; they are passed to the job as environment",
        retriable: false,
    },
    LogRule {
        name: "unsafe_archive",
        pattern: r"hoist-runner: .*would land outside",
        class: ErrClass::Config,
        cause: "an input archive has members that climb out of its directory (../ or absolute paths); nothing was extracted",
        suggestion: "rebuild the archive with relative paths: tar -C DIR -czf data.tgz .",
        retriable: false,
    },
    LogRule {
        name: "spec_unwritable",
        pattern: r"hoist-runner: cannot (write the spec|rewrite the spec|route the outputs)|hoist-runner: config mode needs a spec",
        class: ErrClass::Config,
        cause: "the spec could not be written as asked (a key through a non-map, a missing list element, a null in TOML)",
        suggestion: "fix the spec or the --input/--output keys as the message says, or use --spec-format yaml",
        retriable: false,
    },
    LogRule {
        name: "upload_failed",
        pattern: r"hoist-runner: upload failed",
        class: ErrClass::Infra,
        cause: "the job's outputs could not be uploaded when it ended",
        suggestion: "check that the store is reachable from the job and the credentials can write there; the command's own exit code is kept and the files stay in the job's scratch directory",
        retriable: false,
    },
    LogRule {
        name: "input_fetch_failed",
        pattern: r"hoist-runner: input .* failed:",
        class: ErrClass::Infra,
        cause: "an input could not be downloaded (network or server error)",
        suggestion: "check that the store's endpoint is reachable from where the job runs (S3_ENDPOINT_URL, HF_ENDPOINT)",
        retriable: true,
    },
    LogRule {
        name: "nvidia_toolkit_missing",
        pattern: r#"could not select device driver "[^"]*" with capabilities: \[\[gpu"#,
        class: ErrClass::Infra,
        cause: "the Docker daemon cannot give containers GPUs: the NVIDIA Container Toolkit is not installed or not registered",
        suggestion: "on the daemon's host: install nvidia-container-toolkit, run `nvidia-ctk runtime configure --runtime=docker`, restart dockerd; `hoist preflight --platform docker` checks it",
        retriable: false,
    },
    LogRule {
        name: "image_pull_auth",
        pattern: r"pull access denied|unauthorized: authentication required|no basic auth credentials|denied: requested access to the resource is denied|unauthorized: incorrect username or password",
        class: ErrClass::Config,
        cause: "the registry refused to send the image: credentials missing or wrong",
        suggestion: "for nvcr.io export NGC_KEY; otherwise DOCKER_USERNAME/DOCKER_PASSWORD (and DOCKER_SERVER), or docker login on this machine",
        retriable: false,
    },
    LogRule {
        name: "image_not_found",
        pattern: r"manifest unknown|manifest for .* not found|No such image|repository does not exist|not found: manifest",
        class: ErrClass::Config,
        cause: "the image does not exist (wrong name or tag), or it is not on the daemon and pulling is off",
        suggestion: "check the image name and tag; with --pull never, load or build it on the daemon's host first",
        retriable: false,
    },
    LogRule {
        name: "bind_source_missing",
        pattern: r"bind source path does not exist|invalid mount config.*(no such file|does not exist)|error while creating mount source path",
        class: ErrClass::Config,
        cause: "a --mount source path does not exist on the daemon's host",
        suggestion: "create the path on the host that runs the daemon (for a remote daemon, not this machine), or fix the --mount",
        retriable: false,
    },
    LogRule {
        name: "cuda_oom",
        pattern: r"CUDA out of memory|CUDA error: out of memory|torch\.OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED",
        class: ErrClass::Program,
        cause: "the GPU ran out of memory",
        suggestion: "reduce the batch size or sequence length, enable mixed precision or gradient checkpointing, or use GPUs with more memory",
        retriable: false,
    },
    LogRule {
        name: "host_oom",
        pattern: r"\bMemoryError\b|std::bad_alloc|Cannot allocate memory|out of memory: killed process",
        class: ErrClass::Program,
        cause: "the process ran out of host memory (or hit its --memory limit)",
        suggestion: "raise --memory, use a node with more RAM, or reduce what the job holds in memory (data-loader workers, caches)",
        retriable: false,
    },
    LogRule {
        name: "gpu_fell_off_bus",
        pattern: r"fallen off the bus",
        class: ErrClass::Infra,
        cause: "a GPU fell off the PCIe bus (hardware fault)",
        suggestion: "retry on another node and report the node to its administrators",
        retriable: true,
    },
    LogRule {
        name: "xid",
        pattern: r"\bXid\b.*(error|\d+)",
        class: ErrClass::Infra,
        cause: "the NVIDIA driver reported an Xid error (GPU fault)",
        suggestion: "retry on another node; if it repeats on one node, have it drained",
        retriable: true,
    },
    LogRule {
        name: "ecc",
        pattern: r"ECC.*error|uncorrectable ECC",
        class: ErrClass::Infra,
        cause: "a GPU memory ECC error",
        suggestion: "retry on another node; the GPU needs a reset or replacement",
        retriable: true,
    },
    LogRule {
        name: "cuda_init",
        pattern: r"no CUDA-capable device|CUDA driver version is insufficient|NVIDIA driver.*too old|cuInit.*failed|CUDA initialization.*error|Unable to determine the device handle for GPU|torch\.cuda\.is_available\(\).*False",
        class: ErrClass::Infra,
        cause: "CUDA could not initialise a GPU (driver, device or container runtime problem)",
        suggestion: "check nvidia-smi on the node and that the container runtime exposes GPUs (hoist preflight); retry elsewhere",
        retriable: true,
    },
    LogRule {
        name: "nccl",
        pattern: r"NCCL (WARN|ERROR)|nccl(System|Internal|Remote|Unhandled)(Error|CudaError)|NCCL.*error|Watchdog caught collective operation timeout",
        class: ErrClass::Infra,
        cause: "NCCL collective communication failed between GPUs or nodes",
        suggestion: "retry; if it repeats, run with NCCL_DEBUG=INFO and check the network fabric (InfiniBand, firewall, MASTER_ADDR)",
        retriable: true,
    },
    LogRule {
        name: "interconnect",
        pattern: r"InfiniBand.*error|RDMA.*error|ibv_.*failed",
        class: ErrClass::Infra,
        cause: "the InfiniBand/RDMA interconnect failed",
        suggestion: "retry; report the node if it repeats",
        retriable: true,
    },
    LogRule {
        name: "module_not_found",
        pattern: r"ModuleNotFoundError: No module named|ImportError: No module named",
        class: ErrClass::Config,
        cause: "a Python module the command imports is not installed",
        suggestion: "install it in the image (or environment), or use an image that has it",
        retriable: false,
    },
    LogRule {
        name: "command_not_found",
        pattern: r"command not found|: not found$|executable file not found",
        class: ErrClass::Config,
        cause: "the command (or one it runs) is not installed or not on PATH",
        suggestion: "check the command name, install it, or give its full path",
        retriable: false,
    },
    LogRule {
        name: "no_such_file",
        pattern: r"No such file or directory|FileNotFoundError",
        class: ErrClass::Config,
        cause: "a file or directory the job needs does not exist",
        suggestion: "check input paths, mounts and the working directory (hoist preflight --path NAME=PATH checks them before a run)",
        retriable: false,
    },
    LogRule {
        name: "permission_denied",
        pattern: r"Permission denied|PermissionError",
        class: ErrClass::Config,
        cause: "the job lacked permission on a file or directory",
        suggestion: "check ownership and modes of the paths it uses, and the user it runs as",
        retriable: false,
    },
    LogRule {
        name: "credentials",
        pattern: r"InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken|401 Unauthorized|403 Forbidden|AccessDenied",
        class: ErrClass::Config,
        cause: "a storage or registry request was refused: credentials missing, wrong or expired",
        suggestion: "check ACCESS_KEY/SECRET_KEY, HF_TOKEN or NGC_KEY in the submitting environment",
        retriable: false,
    },
];

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
