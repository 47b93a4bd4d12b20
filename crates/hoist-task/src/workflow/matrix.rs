//! A task's `matrix` expanded into its jobs, with GitHub Actions' `include`/`exclude` rules,
//! and `{KEY}` substitution into a job's shell text.

use std::collections::BTreeMap;
use std::fmt;

use hoist::core::command::sh_quote;
use serde::{Deserialize, Serialize};

use super::refs;
use crate::schema::HoistFields;

/// The most jobs one task's matrix may make: beyond it a typo (a key with a thousand values)
/// would queue more jobs than any cluster wants, and the product is refused before it is built.
pub const MAX_CELLS: usize = 10_000;

/// One job of a task's matrix: each key with its value (as the job's environment sees it).
/// A task without a matrix has one empty cell.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MatrixCell(pub BTreeMap<String, String>);

impl MatrixCell {
    /// A cell from `(key, value)` pairs.
    pub fn of<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        MatrixCell(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Whether this is the one cell of a task without a matrix.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `k=v,k2=v2` in key order (empty for no matrix): how output lines and messages name
    /// the job, and the selector that picks it (`needs.TASK[<label>].results`) when no value
    /// holds `,`, `]` or a quote.
    pub fn label(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The env entries the job gets (`KEY=value` each). They win over the task's own envs of
    /// the same name: the matrix is the more specific setting.
    pub fn envs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether every `(key, value)` of `partial` is this cell's.
    pub fn matches(&self, partial: &BTreeMap<String, String>) -> bool {
        partial.iter().all(|(k, v)| self.0.get(k) == Some(v))
    }
}

impl fmt::Display for MatrixCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.label())
    }
}

/// Why a matrix could not be expanded: the field, and what to say about it.
#[derive(Debug)]
pub(crate) struct ExpandError {
    pub field: String,
    pub what: String,
}

/// The jobs of a task, in order: the matrix's combinations with the first key varying
/// slowest (as GitHub Actions orders them), less those `matrix_exclude` matches, each extended
/// by the `matrix_include` entries that fit it, then the include entries that fit none.
///
/// An include entry fits a combination when every key it shares with `matrix` has the
/// combination's value; it then adds its other keys (overwriting what an earlier include
/// added, never a matrix value). Entries are only matched against the matrix's own
/// combinations, not against ones an earlier include added (GitHub's rule).
pub(crate) fn expand(fields: &HoistFields) -> Result<Vec<MatrixCell>, ExpandError> {
    if fields.matrix.is_empty() && fields.matrix_include.is_empty() {
        return Ok(vec![MatrixCell::default()]);
    }
    // No matrix (only include entries): no combinations to start from.
    let product = if fields.matrix.is_empty() {
        0
    } else {
        match fields
            .matrix
            .iter()
            .try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()))
        {
            Some(n) if n <= MAX_CELLS => n,
            _ => {
                return Err(ExpandError {
                    field: "matrix".into(),
                    what: format!(
                        "makes more than {MAX_CELLS} jobs ({}); split the sweep into several \
                         tasks or workflows.",
                        fields
                            .matrix
                            .iter()
                            .map(|(k, v)| format!("{} {k}", v.len()))
                            .collect::<Vec<_>>()
                            .join(" x ")
                    ),
                });
            }
        }
    };

    let mut cells: Vec<MatrixCell> = Vec::with_capacity(product);
    for n in 0..product {
        // Mixed-radix digits of n, the last key varying fastest.
        let mut rest = n;
        let mut cell = BTreeMap::new();
        for (key, values) in fields.matrix.iter().rev() {
            let len = values.len().max(1);
            if let Some(v) = values.get(rest % len) {
                cell.insert(key.clone(), v.clone());
            }
            rest /= len;
        }
        cells.push(MatrixCell(cell));
    }
    cells.retain(|c| !fields.matrix_exclude.iter().any(|e| c.matches(e)));
    if product > 0 && cells.is_empty() && fields.matrix_include.is_empty() {
        return Err(ExpandError {
            field: "matrix_exclude".into(),
            what: "removes every combination of matrix, so the task would run no job. Remove \
                   some entries."
                .into(),
        });
    }

    let original = cells.len();
    for (i, entry) in fields.matrix_include.iter().enumerate() {
        let (shared, extra): (BTreeMap<_, _>, BTreeMap<_, _>) = entry
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .partition(|(k, _)| fields.matrix.iter().any(|(mk, _)| mk == k));
        let mut fitted = false;
        for cell in cells.iter_mut().take(original) {
            if cell.matches(&shared) {
                cell.0.extend(extra.clone());
                fitted = true;
            }
        }
        if !fitted {
            let new = MatrixCell(entry.clone());
            if cells.contains(&new) {
                return Err(ExpandError {
                    field: format!("matrix_include[{i}]"),
                    what: format!(
                        "adds {new}, which the matrix already runs; each combination runs once. \
                         Remove the entry."
                    ),
                });
            }
            cells.push(new);
        }
        if cells.len() > MAX_CELLS {
            return Err(ExpandError {
                field: "matrix_include".into(),
                what: format!("makes more than {MAX_CELLS} jobs; split the sweep."),
            });
        }
    }
    Ok(cells)
}

/// `{KEY}` in a job's `run`/`setup` text → the cell's value of KEY, quoted for the shell
/// (bare when it needs no quotes, as `0.1` or `s3://b/x`). A `{...}` that names no key of the
/// cell is left as written, and so are `${KEY}` (bash's own expansion: the value is also in
/// the job's environment) and everything inside `${{ ... }}` (see
/// [`crate::workflow::Workflow::resolve`]).
pub fn substitute_matrix(text: &str, cell: &MatrixCell) -> String {
    if cell.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for span in refs::spans(text) {
        out.push_str(&substitute_plain(&text[last..span.start], cell));
        out.push_str(&text[span.clone()]);
        last = span.end;
    }
    out.push_str(&substitute_plain(&text[last..], cell));
    out
}

/// [`substitute_matrix`] on text with no `${{ }}` in it.
pub(crate) fn substitute_plain(text: &str, cell: &MatrixCell) -> String {
    replace_keys(text, |key, dollar| {
        if dollar {
            return None;
        }
        cell.get(key).map(sh_quote)
    })
}

/// Calls `f(KEY, preceded_by_dollar)` for each `{KEY}` (KEY an env name) of `text`; where it
/// answers, the answer replaces the braces and name.
pub(crate) fn replace_keys(text: &str, mut f: impl FnMut(&str, bool) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(open) = rest.find('{') {
        let (before, after) = rest.split_at(open);
        out.push_str(before);
        if let Some(c) = before.chars().last() {
            prev = Some(c);
        }
        let name_end = after[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map(|i| i + 1);
        let replaced = match name_end {
            Some(end) if after[end..].starts_with('}') => {
                let key = &after[1..end];
                if crate::schema::is_env_name(key) {
                    f(key, prev == Some('$')).map(|v| (v, end + 1))
                } else {
                    None
                }
            }
            _ => None,
        };
        match replaced {
            Some((value, used)) => {
                out.push_str(&value);
                prev = after[..used].chars().last();
                rest = &after[used..];
            }
            None => {
                out.push('{');
                prev = Some('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
