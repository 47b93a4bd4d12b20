//! The analysis as a whole: which rule decides, the cause it gives, the evidence it quotes.

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
        // The exact rule is the table's business (its corpus test); here: a log rule decides.
        assert!(
            a.rule.starts_with("log:") && !rule.is_empty(),
            "{line}: {}",
            a.rule
        );
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
        !ere.contains("(?P<") && !ere.contains("(?<") && !ere.contains("(?:"),
        "named and non-capturing groups are not grep -E: {ere}"
    );
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

fn texts(ev: &[Evidence]) -> Vec<(&str, Option<usize>, &str)> {
    ev.iter()
        .map(|e| (e.source.as_str(), e.line, e.text.as_str()))
        .collect()
}

const OOM_TRACEBACK: &str = r#"step 10 loss 2.31
Traceback (most recent call last):
  File "/workspace/train.py", line 88, in <module>
    main()
  File "/workspace/train.py", line 61, in main
    out = model(batch)
  File "/usr/local/lib/python3.10/dist-packages/torch/nn/modules/module.py", line 1501, in _call_impl
    return forward_call(*args, **kwargs)
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.1 GiB of which 1.2 GiB is free.
"#;

#[test]
fn log_rule_quotes_line_numbers_and_the_user_frame() {
    let a = analyze(&FailureInput {
        status: Some(JobStatus::Error),
        exit_code: Some(1),
        log_tail: OOM_TRACEBACK.into(),
        log_start_line: Some(100),
        ..Default::default()
    })
    .expect("analysis");
    assert_eq!(a.rule, "log:cuda_oom");
    let ev = texts(&a.evidence);
    assert_eq!(ev[0].0, "log");
    assert_eq!(ev[0].1, Some(108));
    assert!(ev[0].2.starts_with("torch.OutOfMemoryError"));
    assert_eq!(ev[1].1, Some(104), "{ev:?}");
    assert!(
        ev[1].2.contains("train.py\", line 61, in main") && ev[1].2.ends_with("out = model(batch)"),
        "{ev:?}"
    );
    assert_eq!(ev.last().map(|e| (e.0, e.2)), Some(("exit", "exit code 1")));
    // Without a known start, lines are quoted without numbers.
    let b = err(Some(1), OOM_TRACEBACK);
    assert!(b.evidence.iter().all(|e| e.line.is_none()));
}

#[test]
fn python_exception_when_no_rule_matches() {
    let log = "loading\nTraceback (most recent call last):\n  File \"/work/train.py\", line 12, in <module>\n    cfg = load(path)\n  File \"/opt/conda/lib/python3.11/site-packages/yaml/__init__.py\", line 81, in load\n    return loader.get_single_data()\nKeyError: 'learning_rate'\n";
    let a = err(Some(1), log);
    assert_eq!(
        (a.rule.as_str(), a.err_class, a.retriable),
        ("python_exception", ErrClass::Program, false)
    );
    assert_eq!(a.cause, "KeyError: 'learning_rate'");
    assert!(
        a.suggestion.contains("File \"/work/train.py\", line 12"),
        "{}",
        a.suggestion
    );
    assert_eq!(a.evidence[0].text, "KeyError: 'learning_rate'");
    assert!(a.evidence[1].text.contains("/work/train.py"));
    assert_eq!(a.events[0].node_event_name, "log:python_exception");
    let long = format!(
        "Traceback (most recent call last):\nValueError: {}\n",
        "x".repeat(500)
    );
    assert!(err(Some(1), &long).cause.chars().count() <= 200);
}

#[test]
fn signals_beat_a_traceback_and_quote_the_error_line() {
    let a = err(
        Some(137),
        "Traceback (most recent call last):\n  File \"/w/a.py\", line 1, in <module>\nValueError: x\nfatal: worker killed\n",
    );
    assert_eq!(a.rule, "signal:9");
    assert_eq!(a.evidence[0].text, "fatal: worker killed");
    let s = err(Some(130 + 128 - 128 + 4), "");
    assert_eq!(s.rule, "signal:6");
    let other = err(Some(128 + 10), "");
    assert_eq!(other.rule, "signal:10");
    assert_eq!(
        other.cause,
        "the process was killed by a signal (signal 10)"
    );
}

#[test]
fn fallback_quotes_the_last_error_looking_line() {
    let a = analyze(&FailureInput {
        status: Some(JobStatus::Error),
        exit_code: Some(2),
        log_tail: "start\nERROR: dataset shard 7 is corrupt\n 50%|#####     | 5/10 [00:01<00:01, 4.1it/s]\nWARNING: retrying failed request\ndone\n".into(),
        log_start_line: Some(1),
        ..Default::default()
    })
    .expect("analysis");
    assert_eq!(a.rule, "exit:nonzero");
    assert_eq!(
        a.cause,
        "the command exited with code 2 after printing \"ERROR: dataset shard 7 is corrupt\""
    );
    assert_eq!(
        texts(&a.evidence)[0],
        ("log", Some(2), "ERROR: dataset shard 7 is corrupt")
    );
    assert_eq!(
        err(Some(3), "all fine\n").cause,
        "the command exited with code 3"
    );
}

const TORCHRUN: &str = "\
[rank0]: step 5
[rank3]: Traceback (most recent call last):
[rank3]:   File \"/workspace/train.py\", line 70, in <module>
[rank0]: step 6
[rank3]:     loss = model(x)
[rank3]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.00 GiB.
[rank1]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 4.00 GiB.
[rank0]:[E1206 02:10:11.000 ProcessGroupNCCL.cpp:616] [Rank 0] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=9, OpType=ALLREDUCE) ran for 600000 milliseconds before timing out.
E1206 02:10:12.000 torch/distributed/elastic/multiprocessing/api.py:833] failed (exitcode: 1) local_rank: 3 (pid: 4242) of binary: /usr/bin/python
Traceback (most recent call last):
  File \"/usr/local/bin/torchrun\", line 8, in <module>
    sys.exit(main())
torch.distributed.elastic.multiprocessing.errors.ChildFailedError: 
============================================================
train.py FAILED
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-06_02:10:12
  host      : node-a
  rank      : 3 (local_rank: 3)
  exitcode  : 1 (pid: 4242)
  error_file: <N/A>
  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html
============================================================
";

#[test]
fn multi_rank_names_the_rank_that_failed_first() {
    let a = analyze(&FailureInput {
        status: Some(JobStatus::Error),
        exit_code: Some(1),
        log_tail: TORCHRUN.into(),
        log_start_line: Some(1),
        ..Default::default()
    })
    .expect("analysis");
    assert_eq!(
        a.rule, "log:cuda_oom",
        "OOM explains the watchdog timeout after it"
    );
    assert!(a.cause.starts_with("rank 3 failed first: "), "{}", a.cause);
    assert_eq!(a.evidence[0].line, Some(6));
    assert!(
        a.evidence
            .iter()
            .any(|e| e.source == "rank" && e.text.contains("rank 3"))
    );
    assert!(
        a.evidence
            .iter()
            .any(|e| e.text.contains("/workspace/train.py"))
    );
}

#[test]
fn root_cause_block_names_the_rank_when_lines_are_unlabelled() {
    // Older torch: workers' lines carry no label, only torchrun's summary names the rank.
    let log = TORCHRUN
        .lines()
        .filter(|l| !l.starts_with("[rank1]") && !l.starts_with("[rank0]"))
        .map(|l| l.trim_start_matches("[rank3]: "))
        .collect::<Vec<_>>()
        .join("\n");
    let a = err(Some(1), &log);
    assert!(a.rule.contains("oom"), "{}", a.rule);
    assert!(a.cause.starts_with("rank 3 failed first: "), "{}", a.cause);
    let rank = a
        .evidence
        .iter()
        .find(|e| e.source == "rank")
        .expect("rank evidence");
    assert!(
        rank.text.contains("node-a") && rank.text.contains("exitcode 1"),
        "{rank:?}"
    );
}

#[test]
fn srun_labels_count_as_processes() {
    let log = "0: step 1\n1: Traceback (most recent call last):\n1:   File \"/w/t.py\", line 3, in <module>\n1: AssertionError: shapes differ\n0: Traceback (most recent call last):\n0:   File \"/w/t.py\", line 3, in <module>\n0: AssertionError: shapes differ\n";
    let a = err(Some(1), log);
    assert_eq!(a.rule, "python_exception");
    assert_eq!(
        a.cause,
        "task 1 failed first: AssertionError: shapes differ"
    );
}

#[test]
fn platform_findings_keep_the_log_line_as_evidence() {
    let a = analyze(&FailureInput {
        status: Some(JobStatus::Error),
        exit_code: Some(137),
        log_tail: "CUDA out of memory".into(),
        findings: vec![PlatformFinding {
            err_class: ErrClass::Program,
            cause: "the container was OOM-killed".into(),
            suggestion: "more memory".into(),
            retriable: false,
            event: "OOMKilled".into(),
        }],
        events: vec![FailureEvent {
            node_event_name: "Evicted".into(),
            message: "node low on memory".into(),
        }],
        ..Default::default()
    })
    .expect("analysis");
    let ev = texts(&a.evidence);
    assert_eq!(
        ev[0],
        ("platform", None, "OOMKilled: the container was OOM-killed")
    );
    assert_eq!(ev[1].0, "log");
    assert!(ev.contains(&("event", None, "Evicted: node low on memory")));
    assert!(ev.contains(&("exit", None, "exit code 137")));
}

#[test]
fn status_message_is_matched_but_not_numbered() {
    let a = analyze(&FailureInput {
        status: Some(JobStatus::Error),
        log_tail: "line one\n".into(),
        log_start_line: Some(1),
        message: "Error response from daemon: pull access denied for x".into(),
        ..Default::default()
    })
    .expect("analysis");
    assert_eq!(a.rule, "log:image_pull_auth");
    assert_eq!(
        (a.evidence[0].source.as_str(), a.evidence[0].line),
        ("platform", None)
    );
}

#[test]
fn evidence_serializes_with_source_line_text() {
    let a = err(Some(1), OOM_TRACEBACK);
    let v = serde_json::to_value(&a).expect("json");
    let e = &v["evidence"][0];
    assert!(e["source"].is_string() && e.get("line").is_some() && e["text"].is_string());
    // Older records (without evidence) still read.
    let mut old = v.clone();
    old.as_object_mut().map(|m| m.remove("evidence"));
    let back: FailureAnalysis = serde_json::from_value(old).expect("old shape");
    assert!(back.evidence.is_empty());
}

#[test]
fn a_long_tail_is_analyzed_quickly_enough_to_matter_not() {
    // Not a timing assertion: a tail at the size limit must still find the decisive line.
    let mut log = String::new();
    while log.len() < LOG_TAIL_BYTES as usize {
        log.push_str("step 1234 loss 0.1234 lr 3e-4 grad_norm 1.0 tokens/s 123456\n");
    }
    log.push_str(OOM_TRACEBACK);
    let a = err(Some(1), &log);
    assert_eq!(a.rule, "log:cuda_oom");
}

#[test]
fn a_childs_exception_beats_torchruns_summary() {
    let log = TORCHRUN
        .lines()
        .filter(|l| !l.contains("OutOfMemoryError") && !l.contains("Watchdog"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "[rank3]:     loss = model(x)",
            "[rank3]:     loss = model(x)\n[rank3]: KeyError: 'labels'",
        );
    let a = err(Some(1), &log);
    assert_eq!(a.rule, "python_exception");
    assert_eq!(a.cause, "rank 3 failed first: KeyError: 'labels'");
    assert!(
        a.evidence
            .iter()
            .any(|e| e.text.contains("/workspace/train.py"))
    );
}
