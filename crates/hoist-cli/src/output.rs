//! Tables and colour on a terminal, plain text when piped.

use hoist::core::{JobRecord, JobStatus, JobSummary};
use std::io::IsTerminal;

pub fn color_enabled() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The status fields every platform reports.
pub fn job_json(j: &JobRecord) -> String {
    serde_json::to_string(&JobSummary::from(j)).unwrap_or_default()
}

pub fn age(t: jiff::Timestamp) -> String {
    let secs = jiff::Timestamp::now().as_second() - t.as_second();
    match secs {
        s if s < 60 => format!("{}s ago", s.max(0)),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86400),
    }
}

/// A span of seconds as a person says it: `45s`, `2m`, `3h`, `2d`.
pub fn duration(secs: i64) -> String {
    match secs.max(0) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The message column: a job Pending for longer than `hint_after` says how long, and why
/// when its platform said (as Ray's "pending for a while" hint), so a stuck queue shows.
fn message_cell(j: &JobSummary, hint_after: Option<std::time::Duration>) -> String {
    let first = j.message.lines().next().unwrap_or("");
    let waited = (j.status == JobStatus::Pending)
        .then_some(hint_after)
        .flatten()
        .and_then(|after| {
            let created: jiff::Timestamp = j.created_at.parse().ok()?;
            let secs = jiff::Timestamp::now().as_second() - created.as_second();
            (secs >= after.as_secs() as i64).then_some(secs)
        });
    let text = match waited {
        Some(secs) if first.is_empty() => format!(
            "pending {}: no reason given yet (hoist why {})",
            duration(secs),
            j.short_id()
        ),
        Some(secs) => format!("pending {}: {first}", duration(secs)),
        None => first.to_string(),
    };
    text.chars().take(100).collect()
}

/// Jobs as a table; `hint_after`: how long a Pending job waits before its row says so.
pub fn jobs_table(jobs: &[JobSummary], hint_after: Option<std::time::Duration>) -> String {
    let color = color_enabled();
    let header = [
        "ID", "NAME", "PLATFORM", "STATUS", "EXIT", "CREATED", "MESSAGE",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = vec![header];
    for j in jobs {
        rows.push(vec![
            j.short_id().to_string(),
            j.name.clone(),
            j.platform.clone(),
            j.status.to_string(),
            j.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            j.created_at.parse().map(age).unwrap_or_default(),
            message_cell(j, hint_after),
        ]);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            let text = if color && i > 0 && c == 3 {
                status_word_colored(&jobs[i - 1].status)
            } else {
                cell.clone()
            };
            line.push_str(&text);
            if c + 1 < cols {
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.pop();
    out
}

fn status_word_colored(s: &JobStatus) -> String {
    let code = match *s {
        JobStatus::Complete => 32,
        JobStatus::Error => 31,
        JobStatus::Running => 36,
        JobStatus::Canceled | JobStatus::Canceling => 33,
        JobStatus::Unknown => 35,
        JobStatus::Pending | JobStatus::Paused => 34,
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

pub fn status_word(s: JobStatus) -> String {
    if color_enabled() {
        status_word_colored(&s)
    } else {
        s.to_string()
    }
}

pub fn kv(rows: &[(&str, String)]) -> String {
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k:<w$}  {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}
