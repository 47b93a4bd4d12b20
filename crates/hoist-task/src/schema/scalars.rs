//! YAML 1.1 scalars as PyYAML's `safe_load` reads them: which plain scalars are booleans,
//! ints, floats, nulls and timestamps (the resolver), and how each is constructed (unbounded
//! ints in any radix, sexagesimal numbers, dates). Kept apart from the event-driven composer
//! in `yaml`, which only decides where scalars are.

use std::sync::LazyLock;

use regex::Regex;

use super::pyvalue::Py;

// --- YAML 1.1 implicit resolution, as PyYAML's `Resolver` ---------------------------------

static BOOL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
        .expect("static regex")
});
static FLOAT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?",
        r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?",
        r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
        r"|[-+]?\.(?:inf|Inf|INF)",
        r"|\.(?:nan|NaN|NAN))$"
    ))
    .expect("static regex")
});
static INT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[-+]?0b[0-1_]+",
        r"|[-+]?0[0-7_]+",
        r"|[-+]?(?:0|[1-9][0-9_]*)",
        r"|[-+]?0x[0-9a-fA-F_]+",
        r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"
    ))
    .expect("static regex")
});
static NULL_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:~|null|Null|NULL|)$").expect("static regex"));
static TIMESTAMP_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]",
        r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?",
        r"(?:[Tt]|[ \t]+)[0-9][0-9]?",
        r":[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?",
        r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$"
    ))
    .expect("static regex")
});
static TIMESTAMP_PARTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?P<year>[0-9][0-9][0-9][0-9])-(?P<month>[0-9][0-9]?)-(?P<day>[0-9][0-9]?)",
        r"(?:(?:[Tt]|[ \t]+)(?P<hour>[0-9][0-9]?):(?P<minute>[0-9][0-9]):(?P<second>[0-9][0-9])",
        r"(?:\.(?P<fraction>[0-9]*))?",
        r"(?:[ \t]*(?P<tz>Z|(?P<tz_sign>[-+])(?P<tz_hour>[0-9][0-9]?)(?::(?P<tz_minute>[0-9][0-9]))?))?)?$"
    ))
    .expect("static regex")
});

/// The tag PyYAML's resolver gives a plain scalar with no explicit tag.
pub(super) fn resolve_plain(value: &str) -> &'static str {
    // PyYAML tries resolvers in registration order: bool, float, int, merge, null, timestamp.
    if BOOL_RE.is_match(value) {
        "bool"
    } else if FLOAT_RE.is_match(value) {
        "float"
    } else if INT_RE.is_match(value) {
        "int"
    } else if value == "<<" {
        "merge"
    } else if NULL_RE.is_match(value) {
        "null"
    } else if TIMESTAMP_RE.is_match(value) {
        "timestamp"
    } else if value == "=" {
        "value"
    } else {
        "str"
    }
}

/// PyYAML's `construct_yaml_int`, returning canonical decimal text (Python ints are unbounded).
pub(super) fn construct_int(text: &str) -> Option<String> {
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    let (negative, body) = match cleaned.as_bytes().first()? {
        b'-' => (true, &cleaned[1..]),
        b'+' => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    let magnitude = if body == "0" {
        vec![0]
    } else if let Some(b) = body.strip_prefix("0b") {
        big_from_radix(b, 2)?
    } else if let Some(h) = body.strip_prefix("0x") {
        big_from_radix(h, 16)?
    } else if body.starts_with('0') {
        big_from_radix(body, 8)?
    } else if body.contains(':') {
        // Sexagesimal (`1:30` = 90); the regex bounds each part, so u128 is plenty.
        let mut total: u128 = 0;
        for part in body.split(':') {
            total = total
                .checked_mul(60)?
                .checked_add(part.parse::<u128>().ok()?)?;
        }
        big_from_radix(&total.to_string(), 10)?
    } else {
        big_from_radix(body, 10)?
    };
    let digits = big_to_decimal(&magnitude);
    Some(if negative && digits != "0" {
        format!("-{digits}")
    } else {
        digits
    })
}

/// The base and digits Python's `int()` is handed for an int scalar (for its error message).
pub(super) fn int_parts(text: &str) -> (u32, String) {
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    let body = cleaned.trim_start_matches(['-', '+']);
    if let Some(b) = body.strip_prefix("0b") {
        (2, b.to_string())
    } else if let Some(h) = body.strip_prefix("0x") {
        (16, h.to_string())
    } else if body.starts_with('0') && body != "0" {
        (8, cleaned)
    } else {
        (10, cleaned)
    }
}

/// Little-endian base-1e9 limbs.
fn big_from_radix(digits: &str, radix: u32) -> Option<Vec<u32>> {
    if digits.is_empty() {
        return None;
    }
    let mut limbs: Vec<u32> = vec![0];
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        let mut carry = u64::from(d);
        for limb in &mut limbs {
            let v = u64::from(*limb) * u64::from(radix) + carry;
            *limb = (v % 1_000_000_000) as u32;
            carry = v / 1_000_000_000;
        }
        while carry > 0 {
            limbs.push((carry % 1_000_000_000) as u32);
            carry /= 1_000_000_000;
        }
    }
    Some(limbs)
}

fn big_to_decimal(limbs: &[u32]) -> String {
    let mut out = String::new();
    let mut started = false;
    for (i, limb) in limbs.iter().enumerate().rev() {
        if !started {
            if *limb == 0 && i > 0 {
                continue;
            }
            out.push_str(&limb.to_string());
            started = true;
        } else {
            out.push_str(&format!("{limb:09}"));
        }
    }
    out
}

/// PyYAML's `construct_yaml_float`.
pub(super) fn construct_float(text: &str) -> Option<f64> {
    let cleaned: String = text
        .chars()
        .filter(|c| *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    let (sign, body) = match cleaned.as_bytes().first()? {
        b'-' => (-1.0, &cleaned[1..]),
        b'+' => (1.0, &cleaned[1..]),
        _ => (1.0, cleaned.as_str()),
    };
    if body == ".inf" {
        return Some(sign * f64::INFINITY);
    }
    if body == ".nan" {
        return Some(f64::NAN);
    }
    if body.contains(':') {
        let mut total = 0.0;
        for part in body.split(':') {
            total = total * 60.0 + part.parse::<f64>().ok()?;
        }
        return Some(sign * total);
    }
    // Rust rejects a bare trailing dot with an exponent-less "1." in some forms; normalise.
    let normalised = if let Some(stripped) = body.strip_suffix('.') {
        format!("{stripped}.0")
    } else {
        body.replace(".e", ".0e")
    };
    normalised.parse::<f64>().ok().map(|f| sign * f)
}

/// PyYAML's `construct_yaml_timestamp`: a `date` for `YYYY-MM-DD`, else a `datetime`.
pub(super) fn construct_timestamp(text: &str) -> Option<Py> {
    let caps = TIMESTAMP_PARTS.captures(text)?;
    let num = |name: &str| -> Option<u32> { caps.name(name)?.as_str().parse().ok() };
    let (year, month, day) = (num("year")?, num("month")?, num("day")?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let Some(hour) = num("hour") else {
        return Some(Py::Date { year, month, day });
    };
    let (minute, second) = (num("minute")?, num("second")?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let micro: u32 = caps
        .name("fraction")
        .map(|f| {
            let mut s: String = f.as_str().chars().take(6).collect();
            while s.len() < 6 {
                s.push('0');
            }
            s.parse().unwrap_or(0)
        })
        .unwrap_or(0);
    // Offset in seconds east of UTC, when the text names one.
    let offset: Option<i64> = if let Some(sign) = caps.name("tz_sign") {
        let h = i64::from(num("tz_hour")?);
        let m = i64::from(num("tz_minute").unwrap_or(0));
        let s = h * 3600 + m * 60;
        Some(if sign.as_str() == "-" { -s } else { s })
    } else if caps.name("tz").is_some() {
        Some(0)
    } else {
        None
    };
    let mut text_form = format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
    if micro != 0 {
        text_form.push_str(&format!(".{micro:06}"));
    }
    let mut fields = vec![year, month, day, hour, minute, second, micro];
    // CPython's datetime repr drops a zero microsecond, then a zero second.
    for _ in 0..2 {
        if fields.last() == Some(&0) {
            fields.pop();
        }
    }
    let mut repr = format!(
        "datetime.datetime({})",
        fields
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(off) = offset {
        let sign = if off < 0 { '-' } else { '+' };
        let abs = off.abs();
        text_form.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60));
        let tz = if off == 0 {
            "datetime.timezone.utc".to_string()
        } else {
            let days = off.div_euclid(86_400);
            let secs = off.rem_euclid(86_400);
            let delta = if days != 0 {
                format!("datetime.timedelta(days={days}, seconds={secs})")
            } else {
                format!("datetime.timedelta(seconds={secs})")
            };
            format!("datetime.timezone({delta})")
        };
        repr.truncate(repr.len() - 1);
        repr.push_str(&format!(", tzinfo={tz})"));
    }
    Some(Py::DateTime {
        text: text_form,
        repr,
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}
