//! hoist's own fields in a task file: per task `needs`, `matrix`, `matrix_include`,
//! `matrix_exclude`, `max_parallel`; in the header document `on_complete`, `on_failure` (each a
//! command, or a mapping of `command` and/or `webhook_env`), `max_parallel`.
//!
//! SkyPilot has no such fields, so there is no message of its to reproduce: each message names
//! the task (or the header) and the field, says what is wrong and what to write instead.

use std::collections::BTreeMap;
use std::fmt::Display;

use super::difflib::close_match;
use super::pyvalue::Py;
use super::{HoistFields, Hook, TaskError, WorkflowHeader};

/// hoist's fields of a task document (the task schema lets them through unchecked; they are
/// checked here).
pub(crate) const TASK_KEYS: [&str; 5] = [
    "needs",
    "matrix",
    "matrix_include",
    "matrix_exclude",
    "max_parallel",
];

/// hoist's fields of a header document (besides SkyPilot's `name` and `execution`).
pub(crate) const HEADER_KEYS: [&str; 3] = ["on_complete", "on_failure", "max_parallel"];

/// Header-only fields: in a task document they are refused with a pointer to the header.
pub(crate) const HEADER_ONLY: [&str; 2] = ["on_complete", "on_failure"];

/// The name a task without `name` goes by: `task-<index>`, its 0-based place among the
/// file's tasks (the header document does not count), as SkyPilot numbers a pipeline's tasks.
pub fn default_task_name(index: usize) -> String {
    format!("task-{index}")
}

/// The one shape of every workflow error: `<subject>: <field>: <what>`.
pub(crate) fn field_error(subject: &str, field: &str, what: impl Display) -> TaskError {
    TaskError {
        message: format!("{subject}: {field}: {what}"),
        line: None,
        column: None,
    }
}

/// `task 'NAME'`, as errors name a task.
pub(crate) fn task_subject(name: &str) -> String {
    format!("task '{name}'")
}

/// Whether `key` can be an environment variable's name (SkyPilot's `envs` key rule).
pub(crate) fn is_env_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

const ENV_NAME_RULE: &str = "letters, digits and _, not starting with a digit";

/// The value of a present key; a null counts as given (`Some(&Py::None)`).
fn field<'a>(doc: &'a Py, key: &str) -> Option<&'a Py> {
    doc.get(key)
}

/// A matrix value as its env string; lists, mappings and nulls are no value.
fn scalar(v: &Py) -> Option<String> {
    match v {
        Py::None | Py::List(_) | Py::Dict(_) => None,
        other => Some(other.py_str()),
    }
}

fn max_parallel(doc: &Py, subject: &str) -> Result<Option<u32>, TaskError> {
    let Some(v) = field(doc, "max_parallel") else {
        return Ok(None);
    };
    let bad = || {
        field_error(
            subject,
            "max_parallel",
            format!(
                "must be a whole number of jobs, at least 1; got {}. Write e.g. max_parallel: 2, \
                 or remove it for no bound.",
                v.repr()
            ),
        )
    };
    match v {
        Py::Int(i) => match i.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

fn needs(doc: &Py, subject: &str) -> Result<Option<Vec<String>>, TaskError> {
    let items: Vec<&Py> = match field(doc, "needs") {
        None => return Ok(None),
        // `needs:` with nothing after it: a task that needs nothing, as `needs: []`.
        Some(Py::None) => return Ok(Some(Vec::new())),
        Some(Py::List(items)) => items.iter().collect(),
        Some(one) => vec![one],
    };
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Py::Str(s) if !s.trim().is_empty() => {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
            other => {
                return Err(field_error(
                    subject,
                    &format!("needs[{i}]"),
                    format!(
                        "{} is not a task name. List the names of the tasks this one runs \
                         after, e.g. needs: [train].",
                        other.repr()
                    ),
                ));
            }
        }
    }
    Ok(Some(out))
}

fn matrix(doc: &Py, subject: &str) -> Result<Vec<(String, Vec<String>)>, TaskError> {
    let Some(v) = field(doc, "matrix") else {
        return Ok(Vec::new());
    };
    let entries = match v {
        Py::Dict(d) if !d.is_empty() => d,
        Py::Dict(_) | Py::None => {
            return Err(field_error(
                subject,
                "matrix",
                "is empty. Give each key its values, e.g. matrix: {lr: [0.1, 0.01]}, or remove \
                 matrix.",
            ));
        }
        other => {
            return Err(field_error(
                subject,
                "matrix",
                format!(
                    "must be a mapping of KEY: [values], got {}. Write e.g. matrix: {{lr: [0.1, \
                     0.01]}}.",
                    other.repr()
                ),
            ));
        }
    };
    let mut out = Vec::new();
    for (k, values) in entries {
        let key = env_key(k, subject, "matrix")?;
        let at = format!("matrix.{key}");
        let items = match values {
            Py::List(items) if !items.is_empty() => items,
            Py::List(_) | Py::None => {
                return Err(field_error(
                    subject,
                    &at,
                    format!(
                        "has no values. List at least one, e.g. {key}: [a, b], or remove the key."
                    ),
                ));
            }
            other => {
                return Err(field_error(
                    subject,
                    &at,
                    format!(
                        "must be a list of values, got {}. Write e.g. {key}: [{}].",
                        other.repr(),
                        other.py_str()
                    ),
                ));
            }
        };
        let mut vals: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(s) = scalar(item) else {
                return Err(field_error(
                    subject,
                    &format!("{at}[{i}]"),
                    format!(
                        "{} is not a value: each value becomes the environment variable {key}, \
                         so it must be a string, number or boolean.",
                        item.repr()
                    ),
                ));
            };
            if vals.contains(&s) {
                return Err(field_error(
                    subject,
                    &format!("{at}[{i}]"),
                    format!(
                        "lists {} twice (as the environment sees it); each combination must be \
                         run once. Remove the repeat.",
                        Py::Str(s).repr()
                    ),
                ));
            }
            vals.push(s);
        }
        out.push((key, vals));
    }
    Ok(out)
}

/// A matrix key, which must be usable as an environment variable's name.
fn env_key(k: &Py, subject: &str, at: &str) -> Result<String, TaskError> {
    let key = k.py_str();
    if matches!(k, Py::Str(_)) && is_env_name(&key) {
        return Ok(key);
    }
    Err(field_error(
        subject,
        at,
        format!(
            "{} is not a valid environment variable name ({ENV_NAME_RULE}); each matrix key \
             becomes one. Rename it, e.g. LR or lr.",
            k.repr()
        ),
    ))
}

/// `matrix_include` / `matrix_exclude`: a list of non-empty KEY: value mappings.
fn combinations(
    doc: &Py,
    key: &str,
    subject: &str,
) -> Result<Vec<BTreeMap<String, String>>, TaskError> {
    let items = match field(doc, key) {
        None | Some(Py::None) => return Ok(Vec::new()),
        Some(Py::List(items)) => items,
        Some(other) => {
            return Err(field_error(
                subject,
                key,
                format!(
                    "must be a list of KEY: value mappings, got {}. Write e.g. {key}: [{{lr: \
                     0.1, bs: 8}}].",
                    other.repr()
                ),
            ));
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{key}[{i}]");
        let entries = match item {
            Py::Dict(d) if !d.is_empty() => d,
            other => {
                return Err(field_error(
                    subject,
                    &at,
                    format!(
                        "must be a non-empty mapping of KEY: value, got {}. Write e.g. {{lr: \
                         0.1}}.",
                        other.repr()
                    ),
                ));
            }
        };
        let mut combination = BTreeMap::new();
        for (k, v) in entries {
            let name = env_key(k, subject, &at)?;
            let Some(value) = scalar(v) else {
                return Err(field_error(
                    subject,
                    &format!("{at}.{name}"),
                    format!(
                        "{} is not a value: it must be a string, number or boolean.",
                        v.repr()
                    ),
                ));
            };
            combination.insert(name, value);
        }
        out.push(combination);
    }
    Ok(out)
}

/// A task document's hoist fields. `subject` names the task in messages.
pub(crate) fn task_fields(doc: &Py, subject: &str) -> Result<HoistFields, TaskError> {
    for key in HEADER_ONLY {
        if field(doc, key).is_some() {
            return Err(field_error(
                subject,
                key,
                "belongs to the workflow, not to one task: put it in the header document (the \
                 first document, next to the workflow's name, followed by ---).",
            ));
        }
    }
    let fields = HoistFields {
        needs: needs(doc, subject)?,
        matrix: matrix(doc, subject)?,
        matrix_include: combinations(doc, "matrix_include", subject)?,
        matrix_exclude: combinations(doc, "matrix_exclude", subject)?,
        max_parallel: max_parallel(doc, subject)?,
    };
    for (i, exclude) in fields.matrix_exclude.iter().enumerate() {
        for (k, v) in exclude {
            let at = format!("matrix_exclude[{i}].{k}");
            let Some((_, values)) = fields.matrix.iter().find(|(mk, _)| mk == k) else {
                return Err(field_error(
                    subject,
                    &at,
                    format!(
                        "{k} is not a key of matrix ({}); an exclude entry can only name the \
                         matrix's keys.",
                        keys_of(&fields.matrix)
                    ),
                ));
            };
            if !values.contains(v) {
                return Err(field_error(
                    subject,
                    &at,
                    format!(
                        "{} is not one of matrix.{k}'s values ({}), so the entry would exclude \
                         nothing. Fix the value or remove the entry.",
                        Py::Str(v.clone()).repr(),
                        values.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(fields)
}

fn keys_of(matrix: &[(String, Vec<String>)]) -> String {
    if matrix.is_empty() {
        return "the task has no matrix".into();
    }
    matrix
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a first document is a header: SkyPilot's (`name`, maybe `execution`), or one that
/// also has hoist's header fields and nothing else.
pub(crate) fn is_header(doc: &Py) -> bool {
    let Some(d) = doc.as_dict() else {
        return false;
    };
    let keys: Vec<Option<&str>> = d.iter().map(|(k, _)| k.as_str()).collect();
    let skypilot = keys == [Some("name")]
        || (keys.len() == 2 && keys.contains(&Some("name")) && keys.contains(&Some("execution")));
    let hoist = !keys.is_empty()
        && keys.iter().all(|k| {
            k.is_some_and(|k| k == "name" || k == "execution" || HEADER_KEYS.contains(&k))
        })
        && keys
            .iter()
            .any(|k| k.is_some_and(|k| HEADER_KEYS.contains(&k)));
    skypilot || hoist
}

/// The header document's fields.
pub(crate) fn header(doc: &Py) -> Result<WorkflowHeader, TaskError> {
    Ok(WorkflowHeader {
        name: field(doc, "name")
            .filter(|n| !matches!(n, Py::None))
            .map(Py::py_str),
        on_complete: hook(doc, "on_complete")?,
        on_failure: hook(doc, "on_failure")?,
        max_parallel: max_parallel(doc, HEADER)?,
    })
}

const HEADER: &str = "workflow header";

/// The fields a hook mapping may have.
const HOOK_KEYS: [&str; 2] = ["command", "webhook_env"];

/// `on_complete` / `on_failure`: a command string, or a mapping of `command` and/or
/// `webhook_env`. A blank string or null is no hook.
fn hook(doc: &Py, key: &str) -> Result<Option<Hook>, TaskError> {
    let entries = match field(doc, key) {
        None | Some(Py::None) => return Ok(None),
        Some(Py::Str(s)) if s.trim().is_empty() => return Ok(None),
        Some(Py::Str(s)) => {
            return Ok(Some(Hook {
                command: Some(s.clone()),
                webhook_env: None,
            }));
        }
        Some(Py::Dict(d)) if !d.is_empty() => d,
        Some(Py::Dict(_)) => {
            return Err(field_error(
                HEADER,
                key,
                format!(
                    "is an empty mapping. Give it command and/or webhook_env, e.g. {key}: \
                     {{webhook_env: HOIST_WEBHOOK}}, or remove {key}."
                ),
            ));
        }
        Some(other) => {
            return Err(field_error(
                HEADER,
                key,
                format!(
                    "must be a shell command (a string) or a mapping of command and/or \
                     webhook_env, got {}. Write e.g. {key}: \"notify-send done\" or {key}: \
                     {{webhook_env: HOIST_WEBHOOK}}.",
                    other.repr()
                ),
            ));
        }
    };
    let mut out = Hook::default();
    for (k, v) in entries {
        let name = k.as_str().filter(|s| HOOK_KEYS.contains(s));
        match (name, v) {
            (Some("command"), Py::Str(s)) if !s.trim().is_empty() => {
                out.command = Some(s.clone());
            }
            (Some("command"), other) => {
                return Err(field_error(
                    HEADER,
                    &format!("{key}.command"),
                    format!(
                        "must be a non-empty shell command (a string), got {}. Write e.g. \
                         command: \"notify-send done\", or remove it.",
                        other.repr()
                    ),
                ));
            }
            (Some(_), value) => out.webhook_env = Some(webhook_env(key, value)?),
            (None, _) => {
                let hint = k
                    .as_str()
                    .and_then(|s| close_match(s, HOOK_KEYS, 0.6))
                    .map(|m| format!(" Did you mean {m}?"))
                    .unwrap_or_default();
                return Err(field_error(
                    HEADER,
                    key,
                    format!(
                        "{} is not a hook field; a hook has command and/or webhook_env.{hint}",
                        k.repr()
                    ),
                ));
            }
        }
    }
    Ok(Some(out))
}

/// `webhook_env`: the name of the variable holding the URL. A string that is no name is not
/// repeated in the message: it may be the URL itself, a secret that must stay out of logs.
fn webhook_env(key: &str, value: &Py) -> Result<String, TaskError> {
    let at = format!("{key}.webhook_env");
    match value {
        Py::Str(s) if is_env_name(s) => Ok(s.clone()),
        Py::Str(s) if s.contains('/') || s.contains(':') => Err(field_error(
            HEADER,
            &at,
            "looks like a URL. A webhook URL is a secret, so the file names the environment \
             variable that holds it: write webhook_env: HOIST_WEBHOOK, export \
             HOIST_WEBHOOK=<the URL> where hoist runs, and remove the URL from the file.",
        )),
        Py::Str(_) => Err(field_error(
            HEADER,
            &at,
            format!(
                "is not a valid environment variable name ({ENV_NAME_RULE}). Name the variable \
                 that holds the URL, e.g. webhook_env: HOIST_WEBHOOK."
            ),
        )),
        other => Err(field_error(
            HEADER,
            &at,
            format!(
                "must be an environment variable's name (a string), got {}. Write e.g. \
                 webhook_env: HOIST_WEBHOOK.",
                other.repr()
            ),
        )),
    }
}
