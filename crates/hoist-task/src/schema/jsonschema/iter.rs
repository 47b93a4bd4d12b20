//! jsonschema's `iter_errors`: every error of an instance against a schema, in keyword order,
//! with the path, type match and sub-errors `best_match` and SkyPilot's rewrite look at.

use super::{Kw, Schema};
use crate::schema::pyvalue::{Py, str_repr};

#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub(super) enum PathElem {
    Index(usize),
    Key(String),
}

/// One `jsonschema.ValidationError`, with what `best_match` and SkyPilot's rewrite look at.
pub(super) struct VError {
    pub(super) keyword: &'static str,
    pub(super) message: String,
    /// Relative to the instance the enclosing `anyOf`/`oneOf` (or the root) validated.
    pub(super) path: Vec<PathElem>,
    /// `_matches_type()`: the failing schema has a `type` and the instance satisfies it.
    pub(super) matches_type: bool,
    pub(super) context: Vec<VError>,
    /// For `additionalProperties`: the instance's keys and the schema's known properties.
    pub(super) unknown: Option<UnknownFields>,
}

pub(super) struct UnknownFields {
    pub(super) keys: Vec<Py>,
    pub(super) known: Vec<&'static str>,
    /// The schema also had `patternProperties` (only `envs` does).
    pub(super) patterned: bool,
}

pub(super) fn key_elem(k: &Py) -> PathElem {
    PathElem::Key(k.py_str())
}

pub(super) fn iter_errors(v: &Py, schema: &Schema) -> Vec<VError> {
    let mut out = Vec::new();
    let schema_types = schema.types();
    let matches_type = schema_types.is_some_and(|ts| ts.iter().any(|t| t.matches(v)));
    let push = |out: &mut Vec<VError>, kw: &Kw, message: String| {
        out.push(VError {
            keyword: kw.name(),
            message,
            path: Vec::new(),
            matches_type,
            context: Vec::new(),
            unknown: None,
        });
    };
    for kw in &schema.kws {
        match kw {
            Kw::Type(types) => {
                if !types.iter().any(|t| t.matches(v)) {
                    let names: Vec<String> = types.iter().map(|t| str_repr(t.name())).collect();
                    push(
                        &mut out,
                        kw,
                        format!("{} is not of type {}", v.repr(), names.join(", ")),
                    );
                }
            }
            Kw::Required(req) => {
                if let Py::Dict(d) = v {
                    for r in req {
                        if !d.iter().any(|(k, _)| k.as_str() == Some(r)) {
                            push(
                                &mut out,
                                kw,
                                format!("{} is a required property", str_repr(r)),
                            );
                        }
                    }
                }
            }
            Kw::Properties(props) => {
                if let Py::Dict(d) = v {
                    for (name, sub) in props {
                        if let Some((k, child)) = d.iter().find(|(k, _)| k.as_str() == Some(name)) {
                            descend(&mut out, child, sub, key_elem(k));
                        }
                    }
                }
            }
            Kw::PatternProperties(pats) => {
                if let Py::Dict(d) = v {
                    for (pat, sub) in pats {
                        for (k, child) in d {
                            if k.as_str().is_some_and(|s| pat.re.is_match(s)) {
                                descend(&mut out, child, sub, key_elem(k));
                            }
                        }
                    }
                }
            }
            Kw::NoAdditional | Kw::Additional(_) => {
                let Py::Dict(d) = v else { continue };
                let known = schema.properties();
                let pats = schema.pattern_properties();
                let extras: Vec<&(Py, Py)> = d
                    .iter()
                    .filter(|(k, _)| {
                        let s = k.as_str();
                        !known.iter().any(|(n, _)| Some(*n) == s)
                            && !s.is_some_and(|s| pats.iter().any(|(p, _)| p.re.is_match(s)))
                    })
                    .collect();
                match kw {
                    Kw::Additional(sub) => {
                        for (k, child) in extras {
                            descend(&mut out, child, sub, key_elem(k));
                        }
                    }
                    _ if extras.is_empty() => {}
                    _ => {
                        let mut names: Vec<String> =
                            extras.iter().map(|(k, _)| k.py_str()).collect();
                        names.sort();
                        let message = if pats.is_empty() {
                            let verb = if names.len() == 1 { "was" } else { "were" };
                            let quoted: Vec<String> = names.iter().map(|n| str_repr(n)).collect();
                            format!(
                                "Additional properties are not allowed ({} {verb} unexpected)",
                                quoted.join(", ")
                            )
                        } else {
                            let verb = if names.len() == 1 { "does" } else { "do" };
                            let quoted: Vec<String> = names.iter().map(|n| str_repr(n)).collect();
                            let mut sources: Vec<&str> =
                                pats.iter().map(|(p, _)| p.source).collect();
                            sources.sort_unstable();
                            let regexes: Vec<String> =
                                sources.iter().map(|s| str_repr(s)).collect();
                            format!(
                                "{} {verb} not match any of the regexes: {}",
                                quoted.join(", "),
                                regexes.join(", ")
                            )
                        };
                        out.push(VError {
                            keyword: "additionalProperties",
                            message,
                            path: Vec::new(),
                            matches_type,
                            context: Vec::new(),
                            unknown: Some(UnknownFields {
                                keys: d.iter().map(|(k, _)| k.clone()).collect(),
                                known: schema.property_names(),
                                patterned: !pats.is_empty(),
                            }),
                        });
                    }
                }
            }
            Kw::Items(sub) => {
                if let Py::List(items) = v {
                    for (i, item) in items.iter().enumerate() {
                        descend(&mut out, item, sub, PathElem::Index(i));
                    }
                }
            }
            Kw::AnyOf(subs) | Kw::OneOf(subs) => {
                let mut all = Vec::new();
                let mut valid = 0;
                for sub in subs {
                    let errs = iter_errors(v, sub);
                    if errs.is_empty() {
                        valid += 1;
                        if matches!(kw, Kw::AnyOf(_)) {
                            break;
                        }
                    } else if valid == 0 {
                        all.extend(errs);
                    }
                }
                if valid == 0 {
                    out.push(VError {
                        keyword: kw.name(),
                        message: format!(
                            "{} is not valid under any of the given schemas",
                            v.repr()
                        ),
                        path: Vec::new(),
                        matches_type,
                        context: all,
                        unknown: None,
                    });
                } else if valid > 1 {
                    // Only reachable with overlapping oneOf branches, which SkyPilot's schemas
                    // avoid; jsonschema would list the schemas, which we do not keep.
                    push(
                        &mut out,
                        kw,
                        format!(
                            "{} is valid under more than one of the given schemas",
                            v.repr()
                        ),
                    );
                }
            }
            Kw::Pattern(p) => {
                if let Py::Str(s) = v
                    && !p.re.is_match(s)
                {
                    push(
                        &mut out,
                        kw,
                        format!("{} does not match {}", v.repr(), str_repr(p.source)),
                    );
                }
            }
            Kw::MinItems(n) => {
                if let Py::List(items) = v
                    && items.len() < *n
                {
                    let what = if *n == 1 {
                        "should be non-empty"
                    } else {
                        "is too short"
                    };
                    push(&mut out, kw, format!("{} {what}", v.repr()));
                }
            }
            Kw::MaxProperties(n) => {
                if let Py::Dict(d) = v
                    && d.len() > *n
                {
                    let what = if *n == 0 {
                        "is expected to be empty"
                    } else {
                        "has too many properties"
                    };
                    push(&mut out, kw, format!("{} {what}", v.repr()));
                }
            }
            Kw::Minimum(m) | Kw::Maximum(m) | Kw::ExclusiveMinimum(m) => {
                let (Some(x), Some(limit)) = (number(v), m.as_number()) else {
                    continue;
                };
                let failed = match kw {
                    Kw::Minimum(_) => (x < limit).then_some("is less than the minimum of"),
                    Kw::Maximum(_) => (x > limit).then_some("is greater than the maximum of"),
                    _ => (x <= limit).then_some("is less than or equal to the minimum of"),
                };
                if let Some(what) = failed {
                    push(&mut out, kw, format!("{} {what} {}", v.repr(), m.repr()));
                }
            }
            Kw::UniqueItems => {
                if let Py::List(items) = v {
                    let dup = items
                        .iter()
                        .enumerate()
                        .any(|(i, a)| items[i + 1..].iter().any(|b| a.py_eq(b)));
                    if dup {
                        push(
                            &mut out,
                            kw,
                            format!("{} has non-unique elements", v.repr()),
                        );
                    }
                }
            }
            Kw::Enum {
                values,
                case_insensitive,
            } => {
                // SkyPilot's enum keywords call `.lower()`: only strings reach them in practice
                // (the `type` keyword before them fails first for anything else).
                if let Py::Str(s) = v {
                    let ok = if *case_insensitive {
                        values.iter().any(|e| e.to_lowercase() == s.to_lowercase())
                    } else {
                        values.contains(&s.as_str())
                    };
                    if !ok {
                        let list: Vec<String> = values.iter().map(|e| str_repr(e)).collect();
                        push(
                            &mut out,
                            kw,
                            format!("{} is not one of [{}]", v.repr(), list.join(", ")),
                        );
                    }
                }
            }
        }
    }
    out
}

/// A number for `minimum`/`maximum` (bools are skipped, as jsonschema's `is_type(number)` does).
pub(super) fn number(v: &Py) -> Option<f64> {
    match v {
        Py::Int(_) | Py::Float(_) => v.as_number(),
        _ => None,
    }
}

pub(super) fn descend(out: &mut Vec<VError>, child: &Py, sub: &Schema, elem: PathElem) {
    for mut e in iter_errors(child, sub) {
        e.path.insert(0, elem.clone());
        out.push(e);
    }
}
