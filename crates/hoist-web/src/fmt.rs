//! Small words for the pages: ages, durations, status colours.

use hoist::core::JobStatus;
use jiff::Timestamp;

fn parse(ts: &str) -> Option<Timestamp> {
    ts.parse().ok()
}

/// `45s`, `2m`, `3h`, `2d`.
pub fn span(secs: i64) -> String {
    match secs.max(0) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// How long ago a stored timestamp was (`3m ago`); empty when it does not parse.
pub fn age(ts: &str) -> String {
    parse(ts)
        .map(|t| format!("{} ago", span(Timestamp::now().as_second() - t.as_second())))
        .unwrap_or_default()
}

/// From start to end, or to now while it runs; empty before it started.
pub fn duration(started: Option<&str>, finished: Option<&str>) -> String {
    let Some(start) = started.and_then(parse) else {
        return String::new();
    };
    let end = finished.and_then(parse).unwrap_or_else(Timestamp::now);
    span(end.as_second() - start.as_second())
}

/// The CSS class of a status (its colour).
pub fn status_class(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Complete => "st-complete",
        JobStatus::Error => "st-error",
        JobStatus::Running => "st-running",
        JobStatus::Canceled | JobStatus::Canceling => "st-canceled",
        JobStatus::Unknown => "st-unknown",
        JobStatus::Pending | JobStatus::Paused => "st-pending",
    }
}

/// The same for a run's status words (`Complete`, `skipped`, `waiting`…).
pub fn word_class(word: &str) -> &'static str {
    match word.parse::<JobStatus>() {
        Ok(s) => status_class(s),
        Err(_) => "st-other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(span(-3), "0s");
        assert_eq!(span(59), "59s");
        assert_eq!(span(150), "2m");
        assert_eq!(span(7300), "2h");
        assert_eq!(span(200_000), "2d");
    }

    #[test]
    fn durations_need_a_start() {
        assert_eq!(duration(None, None), "");
        assert_eq!(
            duration(
                Some("2026-01-01T00:00:00.000000Z"),
                Some("2026-01-01T00:02:30.000000Z")
            ),
            "2m"
        );
    }
}
