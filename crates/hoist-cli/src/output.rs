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

pub fn jobs_table(jobs: &[JobSummary]) -> String {
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
            j.message
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(80)
                .collect(),
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
