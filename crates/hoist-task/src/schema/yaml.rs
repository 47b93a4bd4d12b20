//! YAML text → Python-typed values, the way SkyPilot 0.14 reads a task file.
//!
//! SkyPilot checks duplicate keys on PyYAML's node graph (comparing the keys' raw scalar text,
//! so `run` and `"run"` clash), then `safe_load_all`s the stream under YAML 1.1 rules
//! (`yes`/`on` are booleans, `1e-6` is a string, `010` is octal, `2024-01-05` is a date, `<<`
//! merges). serde-saphyr resolves scalars the YAML 1.2 way and hides key positions, so this
//! module drives its event parser (granit) directly and resolves scalars itself.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use super::TaskError;
use super::pyvalue::Py;
use super::scalars::{
    construct_float, construct_int, construct_timestamp, int_parts, resolve_plain,
};

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
