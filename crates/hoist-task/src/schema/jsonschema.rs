//! Just enough of Python's `jsonschema` (Draft 7) to reproduce SkyPilot's schema messages.
//!
//! SkyPilot validates a task with `validator.validate(obj)`, which raises the *first* error in
//! keyword order, then rewrites it (`common_utils.validate_schema`): unknown fields become
//! difflib suggestions, `anyOf`/`oneOf` failures are narrowed with `best_match`, and "object"
//! reads "dict". Which message a user sees therefore depends on keyword order, error paths and
//! `best_match`'s relevance rule, all of which are modelled here. The schemas themselves are
//! written in the sibling modules with the builder below.

use regex::Regex;

use super::TaskError;
use super::difflib::close_match;
use super::pyvalue::{Py, str_repr};

mod best_match;
mod iter;
#[cfg(test)]
mod tests;

use best_match::{best_match, json_path};
use iter::{PathElem, iter_errors};

/// JSON-schema type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Null,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::String => "string",
            Ty::Integer => "integer",
            Ty::Number => "number",
            Ty::Boolean => "boolean",
            Ty::Object => "object",
            Ty::Array => "array",
            Ty::Null => "null",
        }
    }

    /// jsonschema's Draft 7 type checker (bools are not numbers; `1.0` is an integer).
    fn matches(self, v: &Py) -> bool {
        match self {
            Ty::String => matches!(v, Py::Str(_)),
            Ty::Integer => match v {
                Py::Int(_) => true,
                Py::Float(f) => f.is_finite() && f.fract() == 0.0,
                _ => false,
            },
            Ty::Number => matches!(v, Py::Int(_) | Py::Float(_)),
            Ty::Boolean => matches!(v, Py::Bool(_)),
            Ty::Object => matches!(v, Py::Dict(_)),
            Ty::Array => matches!(v, Py::List(_)),
            Ty::Null => matches!(v, Py::None),
        }
    }
}

/// A compiled `pattern` / `patternProperties` regex with its source (messages quote it).
pub(crate) struct Pattern {
    source: &'static str,
    re: Regex,
}

impl Pattern {
    fn new(source: &'static str) -> Pattern {
        // Python's `$` also matches before one trailing newline; Rust's does not.
        let translated = match source.strip_suffix('$') {
            Some(head) => format!("{head}\\n?\\z"),
            None => source.to_string(),
        };
        Pattern {
            source,
            re: Regex::new(&translated).expect("schema patterns are static and valid"),
        }
    }
}

enum Kw {
    Type(Vec<Ty>),
    Required(Vec<&'static str>),
    NoAdditional,
    Additional(Box<Schema>),
    Properties(Vec<(&'static str, Schema)>),
    PatternProperties(Vec<(Pattern, Schema)>),
    Items(Box<Schema>),
    AnyOf(Vec<Schema>),
    OneOf(Vec<Schema>),
    Pattern(Pattern),
    MinItems(usize),
    MaxProperties(usize),
    Minimum(Py),
    Maximum(Py),
    ExclusiveMinimum(Py),
    UniqueItems,
    /// SkyPilot's own `case_insensitive_enum` / `case_sensitive_enum` keywords.
    Enum {
        values: Vec<&'static str>,
        case_insensitive: bool,
    },
}

impl Kw {
    fn name(&self) -> &'static str {
        match self {
            Kw::Type(_) => "type",
            Kw::Required(_) => "required",
            Kw::NoAdditional | Kw::Additional(_) => "additionalProperties",
            Kw::Properties(_) => "properties",
            Kw::PatternProperties(_) => "patternProperties",
            Kw::Items(_) => "items",
            Kw::AnyOf(_) => "anyOf",
            Kw::OneOf(_) => "oneOf",
            Kw::Pattern(_) => "pattern",
            Kw::MinItems(_) => "minItems",
            Kw::MaxProperties(_) => "maxProperties",
            Kw::Minimum(_) => "minimum",
            Kw::Maximum(_) => "maximum",
            Kw::ExclusiveMinimum(_) => "exclusiveMinimum",
            Kw::UniqueItems => "uniqueItems",
            Kw::Enum { .. } => "enum",
        }
    }
}

/// A schema: keywords in the order SkyPilot's dict lists them (that order decides which error
/// is reported first).
#[derive(Default)]
pub(crate) struct Schema {
    kws: Vec<Kw>,
}

/// Builder shorthands.
impl Schema {
    pub(crate) fn new() -> Schema {
        Schema::default()
    }
    pub(crate) fn of(t: Ty) -> Schema {
        Schema::new().ty(&[t])
    }
    pub(crate) fn ty(mut self, t: &[Ty]) -> Schema {
        self.kws.push(Kw::Type(t.to_vec()));
        self
    }
    pub(crate) fn required(mut self, r: &[&'static str]) -> Schema {
        self.kws.push(Kw::Required(r.to_vec()));
        self
    }
    pub(crate) fn no_additional(mut self) -> Schema {
        self.kws.push(Kw::NoAdditional);
        self
    }
    pub(crate) fn additional(mut self, s: Schema) -> Schema {
        self.kws.push(Kw::Additional(Box::new(s)));
        self
    }
    pub(crate) fn props(mut self, p: Vec<(&'static str, Schema)>) -> Schema {
        self.kws.push(Kw::Properties(p));
        self
    }
    pub(crate) fn pattern_props(mut self, p: Vec<(&'static str, Schema)>) -> Schema {
        self.kws.push(Kw::PatternProperties(
            p.into_iter().map(|(k, s)| (Pattern::new(k), s)).collect(),
        ));
        self
    }
    pub(crate) fn items(mut self, s: Schema) -> Schema {
        self.kws.push(Kw::Items(Box::new(s)));
        self
    }
    pub(crate) fn any_of(mut self, s: Vec<Schema>) -> Schema {
        self.kws.push(Kw::AnyOf(s));
        self
    }
    pub(crate) fn one_of(mut self, s: Vec<Schema>) -> Schema {
        self.kws.push(Kw::OneOf(s));
        self
    }
    pub(crate) fn pattern(mut self, p: &'static str) -> Schema {
        self.kws.push(Kw::Pattern(Pattern::new(p)));
        self
    }
    pub(crate) fn min_items(mut self, n: usize) -> Schema {
        self.kws.push(Kw::MinItems(n));
        self
    }
    pub(crate) fn max_properties(mut self, n: usize) -> Schema {
        self.kws.push(Kw::MaxProperties(n));
        self
    }
    pub(crate) fn minimum(mut self, n: i64) -> Schema {
        self.kws.push(Kw::Minimum(Py::Int(n.to_string())));
        self
    }
    pub(crate) fn maximum(mut self, n: i64) -> Schema {
        self.kws.push(Kw::Maximum(Py::Int(n.to_string())));
        self
    }
    pub(crate) fn exclusive_minimum(mut self, n: i64) -> Schema {
        self.kws.push(Kw::ExclusiveMinimum(Py::Int(n.to_string())));
        self
    }
    pub(crate) fn unique_items(mut self) -> Schema {
        self.kws.push(Kw::UniqueItems);
        self
    }
    pub(crate) fn case_insensitive_enum(mut self, values: &[&'static str]) -> Schema {
        self.kws.push(Kw::Enum {
            values: values.to_vec(),
            case_insensitive: true,
        });
        self
    }

    fn types(&self) -> Option<&[Ty]> {
        self.kws.iter().find_map(|k| match k {
            Kw::Type(t) => Some(t.as_slice()),
            _ => None,
        })
    }

    fn properties(&self) -> &[(&'static str, Schema)] {
        self.kws
            .iter()
            .find_map(|k| match k {
                Kw::Properties(p) => Some(p.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    fn pattern_properties(&self) -> &[(Pattern, Schema)] {
        self.kws
            .iter()
            .find_map(|k| match k {
                Kw::PatternProperties(p) => Some(p.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// Names of `properties`, for the unknown-field message.
    pub(crate) fn property_names(&self) -> Vec<&'static str> {
        self.properties().iter().map(|(k, _)| *k).collect()
    }
}

/// SkyPilot's `common_utils.validate_schema(obj, schema, prefix)` (with `skip_none`: top-level
/// keys whose value is null are dropped before validating).
pub(crate) fn validate(obj: &Py, schema: &Schema, prefix: &str) -> Result<(), TaskError> {
    let filtered;
    let obj = match obj {
        Py::Dict(d) => {
            filtered = Py::Dict(
                d.iter()
                    .filter(|(_, v)| !matches!(v, Py::None))
                    .cloned()
                    .collect(),
            );
            &filtered
        }
        other => other,
    };
    let errors = iter_errors(obj, schema);
    let Some(first) = errors.first() else {
        return Ok(());
    };
    let message = if first.keyword == "additionalProperties" {
        let unknown = first.unknown.as_ref();
        if unknown.is_some_and(|u| u.patterned) && first.path == [PathElem::Key("envs".into())] {
            // SkyPilot special-cases envs: the keys are bad, not the field.
            format!(
                "{prefix}The `envs` field contains invalid keys:\n{}",
                first.message
            )
        } else if let Some(u) = unknown {
            let sentences: Vec<String> = u
                .keys
                .iter()
                .filter(|k| !k.as_str().is_some_and(|s| u.known.contains(&s)))
                .map(|k| {
                    let field = k.py_str();
                    match close_match(&field, u.known.iter().copied(), 0.6) {
                        Some(m) => {
                            format!("Instead of {}, did you mean {}?", k.repr(), str_repr(m))
                        }
                        None => format!("Found unsupported field {}.", k.repr()),
                    }
                })
                .collect();
            format!("{prefix}{}", sentences.join(" "))
        } else {
            format!("{prefix}{}", first.message)
        }
    } else {
        let (best, path) = best_match(first);
        format!(
            "{prefix}{}. Check problematic field(s): {}",
            best.message.replace("type 'object'", "type 'dict'"),
            json_path(&path)
        )
    };
    Err(TaskError {
        message,
        line: None,
        column: None,
    })
}
