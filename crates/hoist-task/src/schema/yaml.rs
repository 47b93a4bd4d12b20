//! YAML text → Python-typed values, the way SkyPilot 0.14 reads a task file.
//!
//! SkyPilot checks duplicate keys on PyYAML's node graph (comparing the keys' raw scalar text,
//! so `run` and `"run"` clash), then `safe_load_all`s the stream under YAML 1.1 rules
//! (`yes`/`on` are booleans, `1e-6` is a string, `010` is octal, `2024-01-05` is a date, `<<`
//! merges). serde-saphyr resolves scalars the YAML 1.2 way and hides key positions, so this
//! module drives its event parser (granit) directly and resolves scalars itself.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use super::TaskError;
use super::pyvalue::Py;

/// Aliases are expanded by copying; a "billion laughs" file must not exhaust memory.
const MAX_NODES: usize = 2_000_000;

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    /// 1-based, as PyYAML prints marks.
    line: usize,
    column: usize,
}

#[derive(Debug, Clone)]
enum Kind {
    Scalar {
        value: String,
        plain: bool,
        tag: Option<String>,
    },
    Seq {
        items: Vec<Node>,
        tag: Option<String>,
    },
    Map {
        pairs: Vec<(Node, Node)>,
        tag: Option<String>,
    },
}

const CORE: &str = "tag:yaml.org,2002:";

fn mark_error(problem: &str, path: &str, line: usize, column: usize) -> TaskError {
    TaskError {
        message: format!("{problem}\n  in \"{path}\", line {line}, column {column}"),
        line: Some(line),
        column: Some(column),
    }
}

fn context_error(
    context: &str,
    at: &Node,
    problem: &str,
    problem_at: &Node,
    path: &str,
) -> TaskError {
    TaskError {
        message: format!(
            "{context}\n  in \"{path}\", line {}, column {}\n{problem}\n  in \"{path}\", line {}, column {}",
            at.line, at.column, problem_at.line, problem_at.column
        ),
        line: Some(problem_at.line),
        column: Some(problem_at.column),
    }
}

fn scan_error(e: &ScanError, path: &str) -> TaskError {
    let m = e.marker();
    let info = e.info();
    let problem = if info.is_empty() {
        "invalid YAML"
    } else {
        info.as_str()
    };
    mark_error(problem, path, m.line(), m.col() + 1)
}

/// Parse every document of the stream into Python values. An empty stream yields no documents.
pub(crate) fn load_all(text: &str, path: &str) -> Result<Vec<Py>, TaskError> {
    let docs = compose(text, path)?;
    // Like SkyPilot, duplicates are looked for on the whole stream before anything is built.
    for doc in docs.iter().flatten() {
        check_duplicates(doc)?;
    }
    docs.iter()
        .map(|d| match d {
            None => Ok(Py::None),
            Some(n) => construct(n, path),
        })
        .collect()
}

/// Events → node graph per document (PyYAML's "compose" step). `None` = an empty document.
fn compose(text: &str, path: &str) -> Result<Vec<Option<Node>>, TaskError> {
    let mut options = serde_saphyr::granit_parser::Options::default();
    // Comments are presentation only; the loader never looks at them.
    options.emit_comments = false;
    let parser = Parser::new_from_str_with_options(text, options);

    let mut docs = Vec::new();
    // Open collections: (node under construction, pending key for maps, anchor id).
    let mut stack: Vec<(Node, Option<Node>, usize)> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut current: Option<Node> = None;
    let mut in_doc = false;
    let mut budget = MAX_NODES;

    for item in parser {
        let (event, span) = item.map_err(|e| scan_error(&e, path))?;
        let (line, column) = position(&span);
        let finished: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd => None,
            Event::DocumentStart(..) => {
                in_doc = true;
                current = None;
                anchors.clear();
                None
            }
            Event::DocumentEnd => {
                if in_doc {
                    docs.push(current.take());
                }
                in_doc = false;
                None
            }
            Event::Scalar(value, style, anchor, tag) => Some((
                Node {
                    kind: Kind::Scalar {
                        value: value.into_owned(),
                        plain: matches!(style, ScalarStyle::Plain),
                        tag: tag.map(|t| format!("{}{}", t.handle(), t.suffix())),
                    },
                    line,
                    column,
                },
                anchor,
            )),
            Event::SequenceStart(_, anchor, tag) => {
                stack.push((
                    Node {
                        kind: Kind::Seq {
                            items: Vec::new(),
                            tag: tag.map(|t| format!("{}{}", t.handle(), t.suffix())),
                        },
                        line,
                        column,
                    },
                    None,
                    anchor,
                ));
                None
            }
            Event::MappingStart(_, anchor, tag) => {
                stack.push((
                    Node {
                        kind: Kind::Map {
                            pairs: Vec::new(),
                            tag: tag.map(|t| format!("{}{}", t.handle(), t.suffix())),
                        },
                        line,
                        column,
                    },
                    None,
                    anchor,
                ));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => stack.pop().map(|(n, _, a)| (n, a)),
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    return Err(mark_error("found undefined alias", path, line, column));
                };
                let size = count_nodes(target);
                if size > budget {
                    return Err(mark_error(
                        "aliases expand to too large a document",
                        path,
                        line,
                        column,
                    ));
                }
                budget -= size;
                Some((target.clone(), 0))
            }
            Event::UnresolvedAlias(_) => {
                return Err(mark_error("found undefined alias", path, line, column));
            }
            // Presentation metadata only (not emitted with the options above).
            #[allow(unreachable_patterns)]
            _ => None,
        };
        let Some((node, anchor)) = finished else {
            continue;
        };
        budget = budget.saturating_sub(1);
        if budget == 0 {
            return Err(mark_error(
                "the document has too many nodes",
                path,
                line,
                column,
            ));
        }
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => current = Some(node),
            Some((parent, pending, _)) => match &mut parent.kind {
                Kind::Seq { items, .. } => items.push(node),
                Kind::Map { pairs, .. } => match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => pairs.push((key, node)),
                },
                Kind::Scalar { .. } => {}
            },
        }
    }
    Ok(docs)
}

fn position(span: &Span) -> (usize, usize) {
    // PyYAML marks a tagged node from its tag.
    let start = span.tag_start.unwrap_or(span.start);
    (start.line(), start.col() + 1)
}

fn count_nodes(n: &Node) -> usize {
    match &n.kind {
        Kind::Scalar { .. } => 1,
        Kind::Seq { items, .. } => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Kind::Map { pairs, .. } => {
            1 + pairs
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

/// SkyPilot's `check_no_duplicate_keys`: scalar keys compared by their text, first clash wins.
fn check_duplicates(node: &Node) -> Result<(), TaskError> {
    match &node.kind {
        Kind::Scalar { .. } => Ok(()),
        Kind::Seq { items, .. } => items.iter().try_for_each(check_duplicates),
        Kind::Map { pairs, .. } => {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (key, value) in pairs {
                if let Kind::Scalar { value: text, .. } = &key.kind {
                    if let Some(first) = seen.get(text.as_str()) {
                        return Err(TaskError {
                            message: format!(
                                "Duplicate key {} in YAML at line {} (also defined at line {first}). \
                                 Remove one of the entries so the intended value is unambiguous.",
                                super::pyvalue::str_repr(text),
                                key.line
                            ),
                            line: Some(key.line),
                            column: Some(key.column),
                        });
                    }
                    seen.insert(text, key.line);
                }
                check_duplicates(value)?;
            }
            Ok(())
        }
    }
}

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
fn resolve_plain(value: &str) -> &'static str {
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

/// The effective core tag of a node (`str`, `int`, `map`, ...) or a foreign tag in full.
fn node_tag(node: &Node) -> String {
    match &node.kind {
        Kind::Scalar { value, plain, tag } => match tag.as_deref() {
            // `!` is the non-specific tag: PyYAML then treats the scalar as a string.
            Some("!") => "str".into(),
            Some(t) => t
                .strip_prefix(CORE)
                .map_or_else(|| t.to_string(), str::to_string),
            None if *plain => resolve_plain(value).into(),
            None => "str".into(),
        },
        Kind::Seq { tag, .. } => match tag.as_deref() {
            None | Some("!") => "seq".into(),
            Some(t) => t
                .strip_prefix(CORE)
                .map_or_else(|| t.to_string(), str::to_string),
        },
        Kind::Map { tag, .. } => match tag.as_deref() {
            None | Some("!") => "map".into(),
            Some(t) => t
                .strip_prefix(CORE)
                .map_or_else(|| t.to_string(), str::to_string),
        },
    }
}

fn full_tag(short: &str) -> String {
    if short.starts_with('!') || short.contains(':') {
        short.to_string()
    } else {
        format!("{CORE}{short}")
    }
}

/// PyYAML's `SafeConstructor`.
fn construct(node: &Node, path: &str) -> Result<Py, TaskError> {
    let tag = node_tag(node);
    match (&node.kind, tag.as_str()) {
        (Kind::Scalar { value, .. }, "str") => Ok(Py::Str(value.clone())),
        (Kind::Scalar { .. }, "null") => Ok(Py::None),
        (Kind::Scalar { value, .. }, "bool") => {
            match value.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" => Ok(Py::Bool(true)),
                "no" | "false" | "off" => Ok(Py::Bool(false)),
                // An explicit `!!bool` on other text is a KeyError in PyYAML.
                _ => Err(mark_error(
                    &format!(
                        "{} is not a YAML 1.1 boolean",
                        super::pyvalue::str_repr(value)
                    ),
                    path,
                    node.line,
                    node.column,
                )),
            }
        }
        (Kind::Scalar { value, .. }, "int") => construct_int(value).map(Py::Int).ok_or_else(|| {
            let (base, digits) = int_parts(value);
            TaskError {
                message: format!(
                    "invalid literal for int() with base {base}: {}",
                    super::pyvalue::str_repr(&digits)
                ),
                line: Some(node.line),
                column: Some(node.column),
            }
        }),
        (Kind::Scalar { value, .. }, "float") => {
            construct_float(value)
                .map(Py::Float)
                .ok_or_else(|| TaskError {
                    message: format!(
                        "could not convert string to float: {}",
                        super::pyvalue::str_repr(value)
                    ),
                    line: Some(node.line),
                    column: Some(node.column),
                })
        }
        (Kind::Scalar { value, .. }, "timestamp") => construct_timestamp(value)
            .ok_or_else(|| mark_error("invalid timestamp", path, node.line, node.column)),
        (Kind::Seq { items, .. }, "seq") => Ok(Py::List(
            items
                .iter()
                .map(|i| construct(i, path))
                .collect::<Result<_, _>>()?,
        )),
        (Kind::Map { .. }, "map") => construct_map(node, path),
        (_, other) => Err(mark_error(
            &format!(
                "could not determine a constructor for the tag {}",
                super::pyvalue::str_repr(&full_tag(other))
            ),
            path,
            node.line,
            node.column,
        )),
    }
}

fn construct_map(node: &Node, path: &str) -> Result<Py, TaskError> {
    let pairs = flatten_merges(node, path)?;
    let mut out: Vec<(Py, Py)> = Vec::with_capacity(pairs.len());
    for (key_node, value_node) in pairs {
        let key = construct(&key_node, path)?;
        if !key.hashable() {
            return Err(context_error(
                "while constructing a mapping",
                node,
                "found unhashable key",
                &key_node,
                path,
            ));
        }
        let value = construct(&value_node, path)?;
        // A Python dict keeps a re-assigned key at its first position with the last value.
        match out.iter_mut().find(|(k, _)| k.py_eq(&key)) {
            Some(slot) => slot.1 = value,
            None => out.push((key, value)),
        }
    }
    Ok(Py::Dict(out))
}

/// PyYAML's `flatten_mapping`: `<<` entries are replaced by the merged mappings' pairs, which
/// come first so the mapping's own keys override them.
fn flatten_merges(node: &Node, path: &str) -> Result<Vec<(Node, Node)>, TaskError> {
    let Kind::Map { pairs, .. } = &node.kind else {
        return Ok(Vec::new());
    };
    let mut merged = Vec::new();
    let mut own = Vec::new();
    for (key, value) in pairs {
        if node_tag(key) != "merge" {
            own.push((key.clone(), value.clone()));
            continue;
        }
        match &value.kind {
            Kind::Map { .. } => merged.extend(flatten_merges(value, path)?),
            Kind::Seq { items, .. } => {
                let mut subs = Vec::new();
                for sub in items {
                    if !matches!(sub.kind, Kind::Map { .. }) {
                        return Err(context_error(
                            "while constructing a mapping",
                            node,
                            &format!(
                                "expected a mapping for merging, but found {}",
                                kind_name(sub)
                            ),
                            sub,
                            path,
                        ));
                    }
                    subs.push(flatten_merges(sub, path)?);
                }
                // PyYAML 6.0.4 (what SkyPilot installs) merges the list in order, so a later
                // mapping's key overrides an earlier one's (older PyYAML did the reverse).
                for sub in subs {
                    merged.extend(sub);
                }
            }
            Kind::Scalar { .. } => {
                return Err(context_error(
                    "while constructing a mapping",
                    node,
                    "expected a mapping or list of mappings for merging, but found scalar",
                    value,
                    path,
                ));
            }
        }
    }
    merged.extend(own);
    Ok(merged)
}

fn kind_name(n: &Node) -> &'static str {
    match n.kind {
        Kind::Scalar { .. } => "scalar",
        Kind::Seq { .. } => "sequence",
        Kind::Map { .. } => "mapping",
    }
}

/// PyYAML's `construct_yaml_int`, returning canonical decimal text (Python ints are unbounded).
fn construct_int(text: &str) -> Option<String> {
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
fn int_parts(text: &str) -> (u32, String) {
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
fn construct_float(text: &str) -> Option<f64> {
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
fn construct_timestamp(text: &str) -> Option<Py> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Py {
        let mut docs = load_all(text, "t.yaml").expect("loads");
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    fn val(text: &str) -> Py {
        one(&format!("v: {text}\n"))
            .get("v")
            .cloned()
            .expect("key v")
    }

    #[test]
    fn yaml_1_1_scalars_resolve_like_pyyaml() {
        assert_eq!(val("yes"), Py::Bool(true));
        assert_eq!(val("Off"), Py::Bool(false));
        assert_eq!(val("y"), Py::Str("y".into()));
        assert_eq!(val("1e-6"), Py::Str("1e-6".into()));
        assert_eq!(val("1.0e6"), Py::Str("1.0e6".into()));
        assert_eq!(val("1.0e-6"), Py::Float(1e-6));
        assert_eq!(val("1.0e-06").py_str(), "1e-06");
        assert_eq!(val("1.5"), Py::Float(1.5));
        assert_eq!(val("1."), Py::Float(1.0));
        assert_eq!(val(".5"), Py::Float(0.5));
        assert_eq!(val("010"), Py::Int("8".into()));
        assert_eq!(val("08"), Py::Str("08".into()));
        assert_eq!(val("0x1F"), Py::Int("31".into()));
        assert_eq!(val("0b101"), Py::Int("5".into()));
        assert_eq!(val("1_000"), Py::Int("1000".into()));
        assert_eq!(val("1:30"), Py::Int("90".into()));
        assert_eq!(val("-0"), Py::Int("0".into()));
        assert_eq!(
            val("123456789012345678901234567890"),
            Py::Int("123456789012345678901234567890".into())
        );
        assert_eq!(val("~"), Py::None);
        assert_eq!(val(""), Py::None);
        assert_eq!(val("'yes'"), Py::Str("yes".into()));
        assert_eq!(val("!!str 3"), Py::Str("3".into()));
        assert_eq!(val(".inf").py_str(), "inf");
        assert_eq!(val("2024-01-05").repr(), "datetime.date(2024, 1, 5)");
        assert_eq!(val("2024-01-05").py_str(), "2024-01-05");
        assert_eq!(
            val("2001-12-14t21:59:43.10-05:00").py_str(),
            "2001-12-14 21:59:43.100000-05:00"
        );
    }

    #[test]
    fn flow_set_is_mapping_with_nulls() {
        let v = val("{A100, T4}");
        assert_eq!(v.repr(), "{'A100': None, 'T4': None}");
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let e = load_all("run: a\nsetup: b\nrun: c\n", "t.yaml").expect_err("dup");
        assert_eq!(
            e.message,
            "Duplicate key 'run' in YAML at line 3 (also defined at line 1). Remove one of the \
             entries so the intended value is unambiguous."
        );
        let quoted = load_all("envs:\n  A: 1\n  \"A\": 2\n", "t.yaml").expect_err("dup");
        assert!(
            quoted
                .message
                .starts_with("Duplicate key 'A' in YAML at line 3")
        );
    }

    #[test]
    fn merge_keys_and_aliases() {
        let v = one("base: &b {cpus: 4, memory: 8}\nres:\n  <<: *b\n  cpus: 8\n");
        assert_eq!(
            v.get("res").map(Py::repr).as_deref(),
            Some("{'cpus': 8, 'memory': 8}")
        );
        // A merge list is applied in order (PyYAML 6.0.4): the later mapping wins.
        let v = one("res:\n  <<: [{cpus: 2}, {cpus: 4, memory: 8}]\n");
        assert_eq!(
            v.get("res").map(Py::repr).as_deref(),
            Some("{'cpus': 4, 'memory': 8}")
        );
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let e = load_all("run: [a\n", "t.yaml").expect_err("bad");
        assert!(e.line.is_some() && e.column.is_some(), "{e:?}");
        assert!(e.message.contains("in \"t.yaml\", line"), "{}", e.message);
        let e = load_all("a: !foo x\n", "t.yaml").expect_err("tag");
        assert_eq!(
            e.message,
            "could not determine a constructor for the tag '!foo'\n  in \"t.yaml\", line 1, column 4"
        );
    }

    #[test]
    fn documents_and_empty_streams() {
        assert!(load_all("", "t").expect("empty").is_empty());
        assert_eq!(load_all("a: 1\n---\n", "t").expect("two").len(), 2);
        assert_eq!(load_all("# only a comment\n", "t").expect("c").len(), 0);
    }

    #[test]
    fn unhashable_keys_are_refused() {
        let e = load_all("? [a]\n: 1\n", "t").expect_err("unhashable");
        assert!(e.message.contains("found unhashable key"), "{}", e.message);
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        assert!(load_all(&text, "t").is_err());
    }
}
