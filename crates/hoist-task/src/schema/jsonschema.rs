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

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum PathElem {
    Index(usize),
    Key(String),
}

/// One `jsonschema.ValidationError`, with what `best_match` and SkyPilot's rewrite look at.
struct VError {
    keyword: &'static str,
    message: String,
    /// Relative to the instance the enclosing `anyOf`/`oneOf` (or the root) validated.
    path: Vec<PathElem>,
    /// `_matches_type()`: the failing schema has a `type` and the instance satisfies it.
    matches_type: bool,
    context: Vec<VError>,
    /// For `additionalProperties`: the instance's keys and the schema's known properties.
    unknown: Option<UnknownFields>,
}

struct UnknownFields {
    keys: Vec<Py>,
    known: Vec<&'static str>,
    /// The schema also had `patternProperties` (only `envs` does).
    patterned: bool,
}

fn key_elem(k: &Py) -> PathElem {
    PathElem::Key(k.py_str())
}

fn iter_errors(v: &Py, schema: &Schema) -> Vec<VError> {
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
fn number(v: &Py) -> Option<f64> {
    match v {
        Py::Int(_) | Py::Float(_) => v.as_number(),
        _ => None,
    }
}

fn descend(out: &mut Vec<VError>, child: &Py, sub: &Schema, elem: PathElem) {
    for mut e in iter_errors(child, sub) {
        e.path.insert(0, elem.clone());
        out.push(e);
    }
}

/// jsonschema's `relevance` key: deeper first, then earlier path, then non-anyOf/oneOf, then
/// errors whose instance at least has the schema's type. Smaller sorts first.
fn relevance(e: &VError) -> (isize, &[PathElem], bool, bool) {
    (
        -(e.path.len() as isize),
        &e.path,
        !matches!(e.keyword, "anyOf" | "oneOf"),
        !e.matches_type,
    )
}

fn cmp_relevance(a: &VError, b: &VError) -> std::cmp::Ordering {
    let (ra, rb) = (relevance(a), relevance(b));
    ra.0.cmp(&rb.0)
        .then_with(|| ra.1.partial_cmp(rb.1).unwrap_or(std::cmp::Ordering::Equal))
        .then(ra.2.cmp(&rb.2))
        .then(ra.3.cmp(&rb.3))
}

fn same_key(a: &VError, b: &VError) -> bool {
    cmp_relevance(a, b) == std::cmp::Ordering::Equal
}

fn key_lt(a: &VError, b: &VError) -> bool {
    cmp_relevance(a, b) == std::cmp::Ordering::Less
}

/// `best_match([e])`: descend into `anyOf`/`oneOf` contexts while one sub-error is strictly the
/// most relevant. Returns the chosen error and its path from the validated root.
fn best_match(e: &VError) -> (&VError, Vec<PathElem>) {
    let mut best = e;
    let mut path = e.path.clone();
    while !best.context.is_empty() {
        // heapq.nsmallest(2, ...) is stable: among equal keys the earlier error comes first.
        let mut first: Option<&VError> = None;
        let mut second: Option<&VError> = None;
        for c in &best.context {
            match first {
                None => first = Some(c),
                Some(f) if key_lt(c, f) => {
                    second = first;
                    first = Some(c);
                }
                Some(_) => match second {
                    None => second = Some(c),
                    Some(s) if key_lt(c, s) => second = Some(c),
                    Some(_) => {}
                },
            }
        }
        let Some(f) = first else { break };
        if let Some(s) = second
            && same_key(f, s)
        {
            break;
        }
        path.extend(f.path.iter().cloned());
        best = f;
    }
    (best, path)
}

fn json_path(path: &[PathElem]) -> String {
    let mut out = String::from("$");
    for elem in path {
        match elem {
            PathElem::Index(i) => out.push_str(&format!("[{i}]")),
            PathElem::Key(k) => {
                let simple = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if simple {
                    out.push('.');
                    out.push_str(k);
                } else {
                    let escaped = k.replace('\\', "\\\\").replace('\'', "\\'");
                    out.push_str(&format!("['{escaped}']"));
                }
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Py {
        Py::Str(x.into())
    }

    #[test]
    fn type_messages_quote_python_reprs() {
        let schema = Schema::of(Ty::Object).props(vec![("setup", Schema::of(Ty::String))]);
        let v = Py::Dict(vec![(s("setup"), Py::List(vec![s("a"), s("b")]))]);
        let e = validate(&v, &schema, "Invalid task YAML: ").expect_err("list");
        assert_eq!(
            e.message,
            "Invalid task YAML: ['a', 'b'] is not of type 'string'. Check problematic field(s): $.setup"
        );
    }

    #[test]
    fn any_of_ties_report_the_any_of() {
        let schema = Schema::of(Ty::Object).props(vec![(
            "cpus",
            Schema::new().any_of(vec![Schema::of(Ty::String), Schema::of(Ty::Number)]),
        )]);
        let v = Py::Dict(vec![(s("cpus"), Py::List(vec![]))]);
        let e = validate(&v, &schema, "").expect_err("list");
        assert_eq!(
            e.message,
            "[] is not valid under any of the given schemas. Check problematic field(s): $.cpus"
        );
    }

    #[test]
    fn any_of_descends_to_the_deepest_error() {
        let schema = Schema::of(Ty::Object).props(vec![(
            "accelerators",
            Schema::new().any_of(vec![
                Schema::of(Ty::String),
                Schema::of(Ty::Object),
                Schema::of(Ty::Array).items(Schema::of(Ty::String)),
            ]),
        )]);
        let v = Py::Dict(vec![(
            s("accelerators"),
            Py::List(vec![Py::Dict(vec![(s("T4"), Py::Int("1".into()))])]),
        )]);
        let e = validate(&v, &schema, "Invalid resources YAML: ").expect_err("bad");
        assert_eq!(
            e.message,
            "Invalid resources YAML: {'T4': 1} is not of type 'string'. Check problematic field(s): $.accelerators[0]"
        );
    }

    #[test]
    fn unknown_fields_each_get_a_sentence() {
        let schema = Schema::of(Ty::Object).no_additional().props(vec![
            ("run", Schema::of(Ty::String)),
            ("setup", Schema::of(Ty::String)),
        ]);
        let v = Py::Dict(vec![
            (s("runn"), s("x")),
            (s("setup"), s("y")),
            (s("foo"), s("z")),
        ]);
        let e = validate(&v, &schema, "Invalid task YAML: ").expect_err("unknown");
        assert_eq!(
            e.message,
            "Invalid task YAML: Instead of 'runn', did you mean 'run'? Found unsupported field 'foo'."
        );
    }

    #[test]
    fn json_path_brackets_odd_keys() {
        assert_eq!(
            json_path(&[PathElem::Key("labels".into()), PathElem::Key("a-b".into())]),
            "$.labels['a-b']"
        );
        assert_eq!(
            json_path(&[PathElem::Key("x".into()), PathElem::Index(2)]),
            "$.x[2]"
        );
    }
}
