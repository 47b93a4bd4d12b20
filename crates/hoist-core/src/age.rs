//! Ages as people write them (`7d`, `12h`, `30m`, `90s`, `2w`, `0`), for retention.

use crate::InputError;
use std::time::Duration;

/// Read an age: a whole number with a unit `s`, `m`, `h`, `d` or `w` (`0` needs none).
pub fn parse_age(what: &str, raw: &str) -> Result<Duration, InputError> {
    let bad = || {
        InputError::new(
            format!("bad {what} {raw:?}: expected a number and a unit"),
            "write it as 90s, 30m, 12h, 7d or 2w (0 for no wait)",
        )
    };
    let s = raw.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let unit = s.chars().last().ok_or_else(bad)?;
    let secs: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = s[..s.len() - 1].parse().map_err(|_| bad())?;
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(
            parse_age("age", "7d").ok(),
            Some(Duration::from_secs(604_800))
        );
        assert_eq!(
            parse_age("age", " 90s ").ok(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(parse_age("age", "0").ok(), Some(Duration::ZERO));
        assert_eq!(
            parse_age("age", "2w").ok(),
            Some(Duration::from_secs(1_209_600))
        );
        for bad in ["", "7", "d", "-1d", "1.5h", "7x", "99999999999999999999w"] {
            let e = parse_age("--older-than", bad).expect_err(bad);
            assert!(e.to_string().contains("--older-than"), "{e}");
        }
    }
}
