//! `hoist why`: why a job failed (or, through `why_pending`, why it waits), and the rules
//! behind the answers (`--rules`, `--explain RULE`).

use super::{exit_suffix, print_json};
use crate::cli::WhyArgs;
use crate::output;
use hoist::Hoist;
use hoist::core::failure::{Evidence, RuleInfo, catalog};
use hoist::views::{WhyView, nothing_to_explain};

pub async fn run(h: &Hoist, a: WhyArgs) -> anyhow::Result<i32> {
    if a.rules {
        return list_rules(a.json);
    }
    if let Some(name) = &a.explain {
        return explain(name, a.json);
    }
    let Some(job) = a.job else {
        // clap requires JOB unless --rules or --explain is given.
        anyhow::bail!("hoist why needs a JOB (or --rules, or --explain RULE)");
    };
    let j = h.status(&job).await?;
    if !j.status.is_terminal() && j.status != hoist::core::JobStatus::Unknown {
        return super::why_pending::run(h, &j, a.json).await;
    }
    let analysis = h.failure_analysis(&j).await?;
    if a.json {
        print_json(&WhyView::new(&j, analysis))?;
    } else if let Some(fa) = analysis {
        println!(
            "job {} {}{}",
            j.short_id(),
            output::status_word(j.status),
            exit_suffix(&j)
        );
        println!(
            "{}",
            output::kv(&[
                ("class", fa.err_class.as_str().to_string()),
                ("cause", fa.cause),
                ("fix", fa.suggestion),
                ("retriable", fa.retriable.to_string()),
                ("rule", fa.rule),
            ])
        );
        if !fa.evidence.is_empty() {
            println!("evidence:");
            for e in &fa.evidence {
                println!("  {}", evidence_line(e));
            }
        }
    } else {
        println!("job {}: {}", j.short_id(), nothing_to_explain(&j));
    }
    Ok(0)
}

/// `log line 108: text`, `platform: text`, `exit code 1`.
fn evidence_line(e: &Evidence) -> String {
    match (e.source.as_str(), e.line) {
        (src, Some(n)) => format!("{src} line {n}: {}", e.text),
        ("exit", None) => e.text.clone(),
        ("signal", None) => format!("signal {}", e.text),
        (src, None) => format!("{src}: {}", e.text),
    }
}

fn list_rules(json: bool) -> anyhow::Result<i32> {
    let rules = catalog::rules();
    if json {
        print_json(&rules)?;
        return Ok(0);
    }
    let w = rules.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    println!("{:<w$}  {:<11}  {:<9}  CAUSE", "RULE", "CLASS", "RETRIABLE");
    for r in &rules {
        println!(
            "{:<w$}  {:<11}  {:<9}  {}",
            r.name,
            r.err_class.as_str(),
            if r.retriable { "yes" } else { "no" },
            one_line(&r.cause, 90)
        );
    }
    println!(
        "\n{} rules; hoist why --explain RULE for one. Platforms add their own events (OOMKilled, NodeFail …) before these.",
        rules.len()
    );
    Ok(0)
}

fn explain(name: &str, json: bool) -> anyhow::Result<i32> {
    match catalog::explain(name) {
        Ok(r) if json => print_json(&r).map(|_| 0),
        Ok(r) => {
            print_rule(&r);
            Ok(0)
        }
        Err(close) => {
            let hint = match close.as_slice() {
                [] => "hoist why --rules lists them all".to_string(),
                names => format!(
                    "did you mean {}? (hoist why --rules lists them all)",
                    names.join(", ")
                ),
            };
            eprintln!("error: no rule is named {name:?}\n  hint: {hint}");
            Ok(2)
        }
    }
}

fn print_rule(r: &RuleInfo) {
    println!("{}", r.name);
    let mut rows = vec![
        ("means", r.cause.clone()),
        ("triggered by", r.trigger.clone()),
    ];
    if let Some(p) = &r.pattern {
        rows.push(("regex", format!("{p}  (case-insensitive, per line)")));
    }
    rows.push(("class", r.err_class.as_str().to_string()));
    rows.push((
        "retriable",
        if r.retriable {
            "yes: hoist runs it again (up to HOIST_MAX_RETRIES) where the platform can".into()
        } else {
            "no: running it again fails the same way".into()
        },
    ));
    rows.push(("fix", r.suggestion.clone()));
    println!("{}", output::kv(&rows));
}

fn one_line(s: &str, max: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}
