//! The values a task YAML loads into, modelled on what PyYAML's `safe_load` hands SkyPilot.
//!
//! SkyPilot's messages quote the offending value with Python's `repr()` and stringify envs with
//! `str()`, so the loaded tree keeps Python's types (int vs float vs bool, dates) rather than
//! JSON's, and this module renders them the way CPython does.

use std::fmt::Write as _;

/// One loaded YAML value, with the Python type PyYAML gives it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Py {
    None,
    Bool(bool),
    /// Canonical decimal text (`-12`, `0`): YAML 1.1 ints are unbounded in Python, so the text is
    /// kept rather than a machine integer that could overflow.
    Int(String),
    Float(f64),
    Str(String),
    /// A `YYYY-MM-DD` scalar (PyYAML builds a `datetime.date`).
    Date {
        year: u32,
        month: u32,
        day: u32,
    },
    /// A full YAML timestamp; `str()` text and `repr()` text as CPython prints them.
    DateTime {
        text: String,
        repr: String,
    },
    List(Vec<Py>),
    /// A dict in insertion order (Python dicts keep it, and accelerator sets rely on it).
    Dict(Vec<(Py, Py)>),
}

impl Py {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Py::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_dict(&self) -> Option<&[(Py, Py)]> {
        match self {
            Py::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// `dict.get(key)` for a string key.
    pub(crate) fn get(&self, key: &str) -> Option<&Py> {
        self.as_dict()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Python truthiness (`if not x`), used where SkyPilot writes `x or {}`.
    pub(crate) fn truthy(&self) -> bool {
        match self {
            Py::None => false,
            Py::Bool(b) => *b,
            Py::Int(i) => i != "0",
            Py::Float(f) => *f != 0.0,
            Py::Str(s) => !s.is_empty(),
            Py::List(l) => !l.is_empty(),
            Py::Dict(d) => !d.is_empty(),
            Py::Date { .. } | Py::DateTime { .. } => true,
        }
    }

    /// The value as a float when it is a Python number (bool counts, as in Python arithmetic).
    pub(crate) fn as_number(&self) -> Option<f64> {
        match self {
            Py::Int(i) => i.parse::<f64>().ok(),
            Py::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Python `repr()`.
    pub(crate) fn repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        out
    }

    fn write_repr(&self, out: &mut String) {
        match self {
            Py::None => out.push_str("None"),
            Py::Bool(true) => out.push_str("True"),
            Py::Bool(false) => out.push_str("False"),
            Py::Int(i) => out.push_str(i),
            Py::Float(f) => out.push_str(&float_repr(*f)),
            Py::Str(s) => out.push_str(&str_repr(s)),
            Py::Date { year, month, day } => {
                let _ = write!(out, "datetime.date({year}, {month}, {day})");
            }
            Py::DateTime { repr, .. } => out.push_str(repr),
            Py::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_repr(out);
                }
                out.push(']');
            }
            Py::Dict(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.write_repr(out);
                    out.push_str(": ");
                    v.write_repr(out);
                }
                out.push('}');
            }
        }
    }

    /// Python `str()`: SkyPilot stringifies env and secret values with it before validation.
    pub(crate) fn py_str(&self) -> String {
        match self {
            Py::Str(s) => s.clone(),
            Py::Date { year, month, day } => format!("{year:04}-{month:02}-{day:02}"),
            Py::DateTime { text, .. } => text.clone(),
            other => other.repr(),
        }
    }

    /// Python `==` between dict keys: `1`, `1.0` and `True` are the same key in a Python dict.
    pub(crate) fn py_eq(&self, other: &Py) -> bool {
        match (self.numeric_key(), other.numeric_key()) {
            (Some(a), Some(b)) => a == b,
            _ => self == other,
        }
    }

    fn numeric_key(&self) -> Option<f64> {
        match self {
            Py::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Py::Int(_) | Py::Float(_) => self.as_number(),
            _ => None,
        }
    }

    /// Whether Python could hash it (lists and dicts cannot be dict keys).
    pub(crate) fn hashable(&self) -> bool {
        !matches!(self, Py::List(_) | Py::Dict(_))
    }

    /// JSON for the fields the interface hands on as `serde_json::Value`. Keys become their
    /// `str()` (what `json.dumps` does with non-string keys, give or take float spelling).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Py::None => Value::Null,
            Py::Bool(b) => Value::Bool(*b),
            Py::Int(i) => {
                if let Ok(n) = i.parse::<i64>() {
                    Value::from(n)
                } else if let Ok(n) = i.parse::<u64>() {
                    Value::from(n)
                } else {
                    // Beyond 64 bits JSON numbers lose precision; keep the digits.
                    Value::String(i.clone())
                }
            }
            Py::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(float_repr(*f))),
            Py::Str(s) => Value::String(s.clone()),
            Py::Date { .. } | Py::DateTime { .. } => Value::String(self.py_str()),
            Py::List(items) => Value::Array(items.iter().map(Py::to_json).collect()),
            Py::Dict(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Py::None => "null".to_string(),
                            Py::Bool(true) => "true".to_string(),
                            Py::Bool(false) => "false".to_string(),
                            other => other.py_str(),
                        };
                        (key, v.to_json())
                    })
                    .collect(),
            ),
        }
    }

    /// Back from JSON (after `${VAR}` substitution, which round-trips through JSON text as
    /// SkyPilot's does).
    pub(crate) fn from_json(v: &serde_json::Value) -> Py {
        use serde_json::Value;
        match v {
            Value::Null => Py::None,
            Value::Bool(b) => Py::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Py::Int(i.to_string())
                } else if let Some(u) = n.as_u64() {
                    Py::Int(u.to_string())
                } else {
                    Py::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => Py::Str(s.clone()),
            Value::Array(a) => Py::List(a.iter().map(Py::from_json).collect()),
            Value::Object(o) => Py::Dict(
                o.iter()
                    .map(|(k, v)| (Py::Str(k.clone()), Py::from_json(v)))
                    .collect(),
            ),
        }
    }
}

/// `f'{d.keys()}'` for the keys of `entries` that `known` does not name: SkyPilot's
/// `assert not config` after it has popped every field it reads. Only null-valued keys get
/// there (the schema refuses any other unknown key, but it skips nulls). `None` if none left.
pub(crate) fn leftover_keys(entries: &[(Py, Py)], known: &[&str]) -> Option<String> {
    let left: Vec<String> = entries
        .iter()
        .filter(|(k, _)| !k.as_str().is_some_and(|s| known.contains(&s)))
        .map(|(k, _)| k.repr())
        .collect();
    (!left.is_empty()).then(|| format!("dict_keys([{}])", left.join(", ")))
}

/// CPython's `repr(float)`: the shortest digits that round-trip, in fixed notation when the
/// decimal exponent is in [-4, 16), else scientific with a signed two-digit exponent.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's `{:e}` also prints the shortest round-trip digits: `1.2345e-6`, `-5e0`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let (int_part, frac_part) = if point <= 0 {
            (
                "0".to_string(),
                format!("{}{}", "0".repeat(point.unsigned_abs() as usize), digits),
            )
        } else if point as usize >= digits.len() {
            (
                format!("{}{}", digits, "0".repeat(point as usize - digits.len())),
                String::new(),
            )
        } else {
            (
                digits[..point as usize].to_string(),
                digits[point as usize..].to_string(),
            )
        };
        let frac = if frac_part.is_empty() {
            "0".to_string()
        } else {
            frac_part
        };
        format!("{sign}{int_part}.{frac}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.unsigned_abs())
    }
}

/// CPython's `repr(str)`: single quotes unless the text has a `'` and no `"`.
pub(crate) fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !printable(c) => {
                let n = c as u32;
                if n < 0x100 {
                    let _ = write!(out, "\\x{n:02x}");
                } else if n < 0x10000 {
                    let _ = write!(out, "\\u{n:04x}");
                } else {
                    let _ = write!(out, "\\U{n:08x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// An approximation of `str.isprintable()`: control, format and separator characters other
/// than the ASCII space are escaped by `repr()`.
fn printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() {
        return false;
    }
    !matches!(c as u32,
        0xA0 | 0xAD | 0x1680 | 0x2000..=0x200F | 0x2028..=0x202F | 0x205F..=0x2064
        | 0x3000 | 0xFEFF | 0xE000..=0xF8FF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_cpython() {
        let cases = [
            (1.5, "1.5"),
            (1e-6, "1e-06"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (1e22, "1e+22"),
            (2.5e-5, "2.5e-05"),
            (0.0001, "0.0001"),
            (64.0, "64.0"),
            (f64::INFINITY, "inf"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn str_repr_matches_cpython() {
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a\"b"), "'a\"b'");
        assert_eq!(str_repr("both'\""), "'both\\'\"'");
        assert_eq!(str_repr("tab\there"), "'tab\\there'");
        assert_eq!(str_repr("\u{7f}\u{e9}\u{200b}"), "'\\x7fé\\u200b'");
        assert_eq!(str_repr("\\x"), "'\\\\x'");
    }

    #[test]
    fn containers_render_like_python() {
        let v = Py::Dict(vec![(Py::Str("T4".into()), Py::Int("1".into()))]);
        assert_eq!(v.repr(), "{'T4': 1}");
        let l = Py::List(vec![Py::Str("a".into()), Py::Bool(true), Py::None]);
        assert_eq!(l.repr(), "['a', True, None]");
        assert_eq!(Py::Bool(true).py_str(), "True");
        assert_eq!(
            Py::Date {
                year: 2024,
                month: 1,
                day: 5
            }
            .py_str(),
            "2024-01-05"
        );
    }
}
