//! The corpus of real failure logs (`tests/corpus/<category>/<case>.log`) through the real
//! CLI on the local platform: each case's log is printed by a job that then exits with the
//! case's code, and `hoist why --json` must give the case's class, rule and cause.
//!
//! A case file is a header (`# source:`, `# exit:`, `# expect-class:`, `# expect-rule:`,
//! `# expect-cause:` a substring of the cause), a `---` line, and the log text.

mod harness;

use harness::Env;
use std::path::{Path, PathBuf};

struct Case {
    name: String,
    exit: i32,
    class: String,
    rule: String,
    cause: String,
    body: String,
}

fn corpus() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read corpus dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "log") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read case");
            let name = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
            let (head, body) = text
                .split_once("\n---\n")
                .unwrap_or_else(|| panic!("{name}: no `---` line"));
            let field = |key: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_else(|| panic!("{name}: no `# {key}:` line"))
            };
            Case {
                exit: field("exit")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: bad exit")),
                class: field("expect-class"),
                rule: field("expect-rule"),
                cause: field("expect-cause"),
                body: body.to_string(),
                name,
            }
        })
        .collect()
}

#[test]
fn corpus_of_real_failures_is_diagnosed() {
    let cases = corpus();
    assert!(
        cases.len() >= 80,
        "the corpus has only {} cases",
        cases.len()
    );
    let e = Env::new();
    // Eight workers, each submitting its share first and then waiting: the jobs run side by
    // side and the test stays quick on a small machine.
    let wrong = std::sync::Mutex::new(Vec::new());
    let indexed: Vec<(usize, &Case)> = cases.iter().enumerate().collect();
    std::thread::scope(|s| {
        for chunk in indexed.chunks(cases.len().div_ceil(8)) {
            let (e, wrong) = (&e, &wrong);
            s.spawn(move || {
                let jobs: Vec<(&Case, String)> = chunk
                    .iter()
                    .map(|(i, c)| {
                        let log = e.path(&format!("case-{i}.log"));
                        std::fs::write(&log, &c.body).expect("write case log");
                        let script = format!("cat '{}'; exit {}", log.display(), c.exit);
                        (*c, e.submit(&["--", &script]))
                    })
                    .collect();
                for (c, id) in jobs {
                    if let Some(why) = check(e, c, &id) {
                        wrong.lock().expect("lock").push(why);
                    }
                }
            });
        }
    });
    let mut wrong = wrong.into_inner().expect("lock");
    wrong.sort();
    assert!(
        wrong.is_empty(),
        "{} of {} cases were diagnosed wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

/// `hoist why --json` of the case's job against its expectations; what is wrong, if anything.
fn check(e: &Env, c: &Case, id: &str) -> Option<String> {
    e.run(&["wait", id]);
    let w = e.run(&["why", id, "--json"]);
    let v: serde_json::Value = match serde_json::from_str(&w.stdout()) {
        Ok(v) => v,
        Err(err) => {
            return Some(format!(
                "{}: why --json did not parse ({err}): {}",
                c.name,
                w.stderr()
            ));
        }
    };
    let class = v["err_class"].as_str().unwrap_or("");
    let rule = v["rule"].as_str().unwrap_or("");
    let cause = v["cause"].as_str().unwrap_or("");
    (class != c.class || rule != c.rule || !cause.contains(&c.cause)).then(|| {
        format!(
            "{}: want {} {} cause~{:?}; got {class} {rule} {cause:?}",
            c.name, c.class, c.rule, c.cause
        )
    })
}
