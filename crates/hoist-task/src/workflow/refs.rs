//! References to an upstream job's results: `${{ needs.TASK.results }}`, and for one job of a
//! matrix task `${{ needs.TASK[KEY=VALUE,...].results }}`.
//!
//! Whitespace inside `${{ }}` and around selector items is free. A selector value may be
//! quoted (`'a,b'` or `"x]"`) to hold `,`, `]` or spaces, and may use `{KEY}` for the value of
//! the referring job's own matrix key (`needs.train[lr={lr}]`: each job of a matrix task reads
//! its own upstream counterpart). TASK is a task name as the file spells it (`.` allowed).

use std::ops::Range;

/// One parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedsRef {
    /// The upstream task's name.
    pub task: String,
    /// `[KEY=VALUE,...]` in the order written; `None` for a bare reference. Values are as
    /// written, `{KEY}` not yet filled.
    pub selector: Option<Vec<(String, String)>>,
    /// The reference as written, `${{` to `}}`.
    pub written: String,
}

/// A piece of text: literal, or a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    Ref(NeedsRef),
}

/// A `${{ ... }}` that is not a reference hoist knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// The offending text (to its `}}`, or up to 60 characters when unclosed).
    pub written: String,
    /// What is wrong with it.
    pub why: String,
}

pub(crate) const FORMS: &str = "write ${{ needs.TASK.results }}, or ${{ needs.TASK[KEY=VALUE,...].results }} for one job of \
     a matrix task";

/// Byte ranges of each `${{ ... }}` in `text` (an unclosed one runs to the end).
pub(crate) fn spans(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("${{") {
        let start = from + i;
        let end = text[start + 3..]
            .find("}}")
            .map_or(text.len(), |j| start + 3 + j + 2);
        out.push(start..end);
        from = end;
    }
    out
}

/// Split `text` into literal pieces and references; the first malformed `${{ }}` is an error.
pub(crate) fn parse(text: &str) -> Result<Vec<Piece<'_>>, SyntaxError> {
    let mut out = Vec::new();
    let mut last = 0;
    for span in spans(text) {
        if span.start > last {
            out.push(Piece::Text(&text[last..span.start]));
        }
        out.push(Piece::Ref(parse_one(&text[span.clone()])?));
        last = span.end;
    }
    if last < text.len() {
        out.push(Piece::Text(&text[last..]));
    }
    Ok(out)
}

/// The references of `text`.
pub(crate) fn refs_in(text: &str) -> Result<Vec<NeedsRef>, SyntaxError> {
    Ok(parse(text)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Ref(r) => Some(r),
            Piece::Text(_) => None,
        })
        .collect())
}

fn parse_one(written: &str) -> Result<NeedsRef, SyntaxError> {
    let fail = |why: String| SyntaxError {
        written: if written.ends_with("}}") {
            written.to_string()
        } else {
            written.chars().take(60).collect()
        },
        why,
    };
    let Some(inner) = written
        .strip_prefix("${{")
        .and_then(|w| w.strip_suffix("}}"))
    else {
        return Err(fail("it has no closing }}".into()));
    };
    let inner = inner.trim();
    let Some(rest) = inner.strip_prefix("needs.") else {
        return Err(fail(
            "the only expression hoist knows is needs.TASK.results (matrix values are {KEY})"
                .into(),
        ));
    };
    let Some(middle) = rest.strip_suffix(".results") else {
        return Err(fail(
            "it must end in .results (an upstream job's results location)".into(),
        ));
    };
    let (name, selector) = match middle.find('[') {
        None => (middle, None),
        Some(open) => {
            let Some(body) = middle[open + 1..].strip_suffix(']') else {
                return Err(fail(
                    "its [selector] must end with ] right before .results".into(),
                ));
            };
            if body.trim().is_empty() {
                return Err(fail(
                    "its [selector] is empty: name the job as [KEY=VALUE,...], or drop the []"
                        .into(),
                ));
            }
            (&middle[..open], Some(selector(body).map_err(fail)?))
        }
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !name_ok {
        return Err(fail(format!(
            "{name:?} is not a task name (letters, digits, '.', '_', '-')"
        )));
    }
    Ok(NeedsRef {
        task: name.to_string(),
        selector,
        written: written.to_string(),
    })
}

/// `KEY=VALUE,...`: keys are env names, each once; values bare (trimmed) or quoted.
fn selector(body: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rest = body;
    loop {
        let Some(eq) = rest.find('=') else {
            return Err(format!(
                "selector item {:?} has no '=': select with KEY=VALUE",
                rest.trim()
            ));
        };
        let key = rest[..eq].trim();
        if !crate::schema::is_env_name(key) {
            return Err(format!("selector key {key:?} is not a matrix key name"));
        }
        if out.iter().any(|(k, _)| k == key) {
            return Err(format!("selector names {key} twice"));
        }
        let after = rest[eq + 1..].trim_start();
        let (value, next) = match after.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let Some(close) = after[1..].find(q) else {
                    return Err(format!("selector value of {key} has no closing {q}"));
                };
                let tail = after[1 + close + 1..].trim_start();
                if !(tail.is_empty() || tail.starts_with(',')) {
                    return Err(format!(
                        "selector value of {key}: expected ',' or ']' after the quoted value"
                    ));
                }
                (after[1..1 + close].to_string(), tail)
            }
            _ => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            }
        };
        out.push((key.to_string(), value));
        match next.strip_prefix(',') {
            Some(more) => rest = more,
            None => return Ok(out),
        }
    }
}
