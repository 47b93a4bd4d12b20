//! `${VAR}` / `$VAR` substitution into `file_mounts`, `workdir`, `volumes` and `service`.
//!
//! SkyPilot JSON-dumps the field, runs one regex over the text and JSON-loads the result, so a
//! value is pasted into JSON text as is: quotes or backslashes in a value change or break the
//! field. Doing the same round trip keeps those cases identical. Names not defined (envs, then
//! inline secrets) are left as written; there is no `${VAR:-default}`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::TaskError;
use super::pyvalue::Py;

/// SkyPilot's pattern: `\$\{?\b([a-zA-Z_][a-zA-Z0-9_]*)\b\}?` (an unmatched brace on either
/// side is consumed with the name, as there).
static VAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\{?\b([a-zA-Z_][a-zA-Z0-9_]*)\b\}?").expect("static regex"));

/// Substitute `vars` into `field` (which must be JSON-representable).
pub(crate) fn fill(field: &Py, vars: &BTreeMap<String, String>) -> Result<Py, TaskError> {
    // Python's json.dumps separators, so offsets in an error message line up with SkyPilot's.
    let text = python_json(&field.to_json());
    let replaced = VAR.replace_all(&text, |c: &Captures| {
        let name = c.get(1).map_or("", |m| m.as_str());
        match vars.get(name) {
            Some(v) => v.clone(),
            None => c.get(0).map_or("", |m| m.as_str()).to_string(),
        }
    });
    let value: serde_json::Value = serde_json::from_str(&replaced).map_err(|e| TaskError {
        message: python_json_error(&e, &replaced),
        line: None,
        column: None,
    })?;
    Ok(Py::from_json(&value))
}

/// serde_json's parse error worded like Python's `json.loads` (`Expecting ',' delimiter: line 1
/// column 16 (char 15)`), which is what SkyPilot shows when a value breaks the JSON.
fn python_json_error(e: &serde_json::Error, text: &str) -> String {
    let raw = e.to_string();
    let what = if raw.starts_with("expected `,` or") {
        "Expecting ',' delimiter"
    } else if raw.starts_with("expected `:`") {
        "Expecting ':' delimiter"
    } else if raw.starts_with("invalid escape") {
        "Invalid \\escape"
    } else if raw.starts_with("control character") {
        "Invalid control character at"
    } else if raw.starts_with("trailing characters") {
        "Extra data"
    } else if raw.starts_with("EOF while parsing a string") {
        "Unterminated string starting at"
    } else {
        "Expecting value"
    };
    let (line, column) = (e.line(), e.column());
    // Python counts `char` from 0 over the whole text; the dump is a single line.
    let char_index = text
        .lines()
        .take(line.saturating_sub(1))
        .map(|l| l.chars().count() + 1)
        .sum::<usize>()
        + column.saturating_sub(1);
    format!("{what}: line {line} column {column} (char {char_index})")
}

/// `json.dumps(v)`: `", "` and `": "` separators, non-ASCII escaped.
fn python_json(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", ascii_string(k), python_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::String(s) => ascii_string(s),
        other => other.to_string(),
    }
}

fn ascii_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn both_forms_and_undefined_names() {
        let field = Py::Dict(vec![(
            Py::Str("/checkpoint/${MODEL_SIZE}".into()),
            Py::Str("s3://$MY_BUCKET-2/$UNSET".into()),
        )]);
        let out = fill(&field, &vars(&[("MODEL_SIZE", "13b"), ("MY_BUCKET", "b")])).expect("ok");
        assert_eq!(out.repr(), "{'/checkpoint/13b': 's3://b-2/$UNSET'}");
    }

    #[test]
    fn values_are_pasted_into_json() {
        let field = Py::Str("$A".into());
        assert!(fill(&field, &vars(&[("A", "x\"y")])).is_err());
        let out = fill(&field, &vars(&[("A", "a\\tb")])).expect("ok");
        assert_eq!(out, Py::Str("a\tb".into()));
    }

    #[test]
    fn non_ascii_survives() {
        let field = Py::Str("/données/$A".into());
        let out = fill(&field, &vars(&[("A", "é")])).expect("ok");
        assert_eq!(out, Py::Str("/données/é".into()));
    }
}
