//! `hoist why` through the real CLI on the local platform: the cause and the evidence it
//! quotes (with log line numbers), the first failing rank of a multi-rank log, and the rule
//! catalogue (`--rules`, `--explain`).

mod harness;

use harness::Env;
use serde_json::Value;

/// Run a local job that prints `log` (from a file, byte for byte) and exits with `code`;
/// returns `hoist why --json` of it.
fn failed_job(e: &Env, name: &str, log: &str, code: i32) -> (String, Value) {
    let file = e.path(&format!("{name}.log"));
    std::fs::write(&file, log).expect("write log");
    let script = format!("cat '{}'; exit {code}", file.display());
    let id = e.submit(&["--name", name, "--", &script]);
    e.run(&["wait", &id]);
    let o = e.run(&["why", &id, "--json"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    (id, serde_json::from_str(&o.stdout()).expect("why json"))
}

fn evidence(v: &Value) -> Vec<(String, Option<u64>, String)> {
    v["evidence"]
        .as_array()
        .expect("evidence array")
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap_or_default().to_string(),
                e["line"].as_u64(),
                e["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

const TRACEBACK: &str = "\
loading config
step 1 loss 2.3
Traceback (most recent call last):
  File \"/workspace/train.py\", line 88, in <module>
    main()
  File \"/workspace/train.py\", line 57, in main
    lr = cfg[\"optim\"][\"lr\"]
  File \"/usr/local/lib/python3.10/dist-packages/omegaconf/dictconfig.py\", line 375, in __getitem__
    self._format_and_raise(key=key, value=None, cause=e)
KeyError: 'optim'
";

#[test]
fn python_traceback_gives_the_exception_and_the_user_frame() {
    let e = Env::new();
    let (id, v) = failed_job(&e, "tb", TRACEBACK, 1);
    assert_eq!(
        (
            v["rule"].as_str(),
            v["err_class"].as_str(),
            v["retriable"].as_bool()
        ),
        (Some("python_exception"), Some("ERR_PROGRAM"), Some(false)),
        "{v}"
    );
    assert_eq!(v["cause"].as_str(), Some("KeyError: 'optim'"));
    let ev = evidence(&v);
    assert_eq!(ev[0], ("log".into(), Some(10), "KeyError: 'optim'".into()));
    assert_eq!(ev[1].1, Some(6), "{ev:?}");
    assert!(
        ev[1].2.contains("/workspace/train.py\", line 57, in main") && ev[1].2.contains("lr = cfg"),
        "{ev:?}"
    );
    assert!(ev.contains(&("exit".into(), None, "exit code 1".into())));

    let human = e.run(&["why", &id]);
    assert_eq!(human.code(), 0, "{}", human.stderr());
    let out = human.stdout();
    for want in [
        "class",
        "ERR_PROGRAM",
        "cause      KeyError: 'optim'",
        "retriable  false",
        "evidence:",
        "  log line 10: KeyError: 'optim'",
        "  log line 6: File \"/workspace/train.py\", line 57, in main",
        "  exit code 1",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn without_a_rule_the_last_error_line_is_quoted() {
    let e = Env::new();
    let log = "start\nERROR: shard 7 of /data/train is corrupt\n 40%|####      | 4/10 [00:01<00:02, 3.9it/s]\nWARNING: retrying\ndone\n";
    let (_, v) = failed_job(&e, "plain", log, 3);
    assert_eq!(v["rule"].as_str(), Some("exit:nonzero"), "{v}");
    let cause = v["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("code 3") && cause.contains("ERROR: shard 7 of /data/train is corrupt"),
        "{cause}"
    );
    assert_eq!(
        evidence(&v)[0],
        (
            "log".into(),
            Some(2),
            "ERROR: shard 7 of /data/train is corrupt".into()
        )
    );
}

const TORCHRUN: &str = "\
[rank0]: step 5 loss 1.9
[rank3]: Traceback (most recent call last):
[rank3]:   File \"/workspace/train.py\", line 70, in <module>
[rank0]: step 6 loss 1.8
[rank3]:     loss = model(x)
[rank3]: ValueError: expected input of 3 channels, got 4
[rank1]: ValueError: expected input of 3 channels, got 4
W1206 02:10:12.000 torch/distributed/elastic/multiprocessing/api.py:897] Sending process 4240 closing signal SIGTERM
E1206 02:10:12.000 torch/distributed/elastic/multiprocessing/api.py:869] failed (exitcode: 1) local_rank: 3 (pid: 4242) of binary: /usr/bin/python
Traceback (most recent call last):
  File \"/usr/local/bin/torchrun\", line 8, in <module>
    sys.exit(main())
torch.distributed.elastic.multiprocessing.errors.ChildFailedError: 
============================================================
train.py FAILED
------------------------------------------------------------
Failures:
  <NO_OTHER_FAILURES>
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
fn multi_rank_log_names_the_rank_that_failed_first() {
    let e = Env::new();
    let (_, v) = failed_job(&e, "ddp", TORCHRUN, 1);
    assert_eq!(v["rule"].as_str(), Some("python_exception"), "{v}");
    assert_eq!(
        v["cause"].as_str(),
        Some("rank 3 failed first: ValueError: expected input of 3 channels, got 4")
    );
    let ev = evidence(&v);
    assert_eq!(ev[0].1, Some(6), "{ev:?}");
    assert!(ev[0].2.starts_with("[rank3]: ValueError"), "{ev:?}");
    assert!(
        ev.iter()
            .any(|(src, _, text)| src == "log" && text.contains("/workspace/train.py")),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|(src, line, text)| src == "rank" && *line == Some(6) && text.contains("rank 3")),
        "{ev:?}"
    );
}

#[test]
fn json_keeps_taos_shape_and_adds_the_rest() {
    let e = Env::new();
    let (_, v) = failed_job(&e, "keys", "no_such_thing: command not found\n", 127);
    for key in [
        "err_class",
        "suggestion",
        "job_failure_by_node_event",
        "cause",
        "rule",
        "retriable",
        "evidence",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    let events = v["job_failure_by_node_event"].as_array().expect("events");
    assert!(
        events
            .iter()
            .all(|e| e["node_event_name"].is_string() && e["message"].is_string())
    );
    assert!(v["evidence"].as_array().is_some_and(|a| {
        a.iter()
            .all(|e| e["source"].is_string() && e.get("line").is_some() && e["text"].is_string())
    }));
}

#[test]
fn rules_lists_every_rule_and_explain_describes_one() {
    let e = Env::new();
    let o = e.run(&["why", "--rules"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let out = o.stdout();
    assert!(out.starts_with("RULE"), "{out}");
    for name in [
        "python_exception",
        "exit:126",
        "exit:127",
        "signal:9",
        "exit:nonzero",
        "no_exit_code",
        "canceled",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} not listed:\n{out}"
        );
    }
    let listed: Value =
        serde_json::from_str(&e.run(&["why", "--rules", "--json"]).stdout()).expect("json");
    let listed = listed.as_array().expect("array");
    let log_rule = listed
        .iter()
        .filter_map(|r| r["name"].as_str())
        .find(|n| n.starts_with("log:"))
        .expect("a log rule");
    assert!(listed.len() > 12);

    let o = e.run(&["why", "--explain", log_rule]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    for want in [
        "means",
        "triggered by",
        "a log line containing",
        "regex",
        "class",
        "retriable",
        "fix",
    ] {
        assert!(o.stdout().contains(want), "{want}:\n{}", o.stdout());
    }
    let bare = log_rule.trim_start_matches("log:");
    assert_eq!(e.run(&["why", "--explain", bare]).code(), 0);
    let o = e.run(&["why", "--explain", "python_exception"]);
    assert!(o.stdout().contains("Traceback (most recent call last)"));

    let o = e.run(&["why", "--explain", "exit:12"]);
    assert_eq!(o.code(), 2);
    assert!(o.stderr().contains("did you mean") && o.stderr().contains("exit:12"));
    assert_eq!(e.run(&["why"]).code(), 2, "JOB is needed without --rules");
}
