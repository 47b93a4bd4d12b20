//! Platform settings: what each key is, and the one precedence every key follows —
//! **flag, then environment, then profile, then default** — in one place.
//!
//! A platform declares its keys as [`SettingDoc`]s; [`resolve`] layers the values a front door
//! gave (flags, a task file's section), the environment, and the profile, checks every key and
//! kind, and records where each value came from (for `hoist config show`). The platform then
//! reads the resolved object into its own typed settings.

use crate::env::EnvSource;
use crate::spec::InputError;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A JSON object of settings, keyed by setting name.
pub type SettingsMap = Map<String, Value>;

/// The shape a setting's value has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingKind {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// A number (fractions allowed).
    Number,
    /// true or false (`1/0`, `yes/no`, `on/off` in the environment).
    Bool,
    /// Strings (comma-separated in the environment or a profile string).
    List,
    /// String to string (`K=V,K2=V2` in the environment).
    Map,
    /// Bytes: an integer, or a size such as `512m` or `16g`.
    Size,
}

impl SettingKind {
    /// How the kind is named in messages and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingKind::String => "string",
            SettingKind::Integer => "integer",
            SettingKind::Number => "number",
            SettingKind::Bool => "boolean",
            SettingKind::List => "list of strings",
            SettingKind::Map => "table of strings",
            SettingKind::Size => "size",
        }
    }
}

/// A setting's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "text")]
pub enum DefaultValue {
    /// None: unset means "not used".
    None,
    /// A literal in the setting's kind (parsed as the environment would be).
    Value(&'static str),
    /// Worked out by the platform when unset; the text says how.
    Computed(&'static str),
}

/// One setting a platform reads.
#[derive(Debug, Clone, Serialize)]
pub struct SettingDoc {
    /// Key in a profile (and in a request's platform options).
    pub key: &'static str,
    /// Its kind.
    pub kind: SettingKind,
    /// Environment variables, first set wins.
    pub env: &'static [&'static str],
    /// The command-line flag that sets it, if any.
    pub flag: Option<&'static str>,
    /// Default.
    pub default: DefaultValue,
    /// What it does.
    pub doc: &'static str,
    /// Stored with each job (a per-job option) rather than read anew by later verbs.
    pub per_job: bool,
    /// A credential: read from the environment only, never stored, printed masked.
    pub secret: bool,
}

impl SettingDoc {
    /// A plain, platform-level setting with no env name, flag or default.
    pub const fn new(key: &'static str, kind: SettingKind, doc: &'static str) -> Self {
        SettingDoc {
            key,
            kind,
            env: &[],
            flag: None,
            default: DefaultValue::None,
            doc,
            per_job: false,
            secret: false,
        }
    }

    /// Read from these environment variables (first set wins).
    pub const fn env(mut self, names: &'static [&'static str]) -> Self {
        self.env = names;
        self
    }

    /// Set by this flag.
    pub const fn flag(mut self, flag: &'static str) -> Self {
        self.flag = Some(flag);
        self
    }

    /// A literal default.
    pub const fn default(mut self, value: &'static str) -> Self {
        self.default = DefaultValue::Value(value);
        self
    }

    /// A default the platform works out.
    pub const fn computed(mut self, how: &'static str) -> Self {
        self.default = DefaultValue::Computed(how);
        self
    }

    /// Stored with each job.
    pub const fn per_job(mut self) -> Self {
        self.per_job = true;
        self
    }

    /// A credential.
    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
}

/// Where a resolved value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Source {
    /// A command-line flag (or the front door's own request), named.
    Flag(String),
    /// An environment variable, named.
    Env(String),
    /// A profile, named.
    Profile(String),
    /// The setting's default.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(n) => write!(f, "flag {n}"),
            Source::Env(n) => write!(f, "env {n}"),
            Source::Profile(n) => write!(f, "profile {n}"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// Settings after layering.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// Every key that has a value, in its normalized form.
    pub values: SettingsMap,
    /// Where each value came from.
    pub sources: BTreeMap<String, Source>,
}

impl Resolved {
    /// The values of the per-job settings (what a job stores as its platform options).
    pub fn per_job(&self, docs: &[SettingDoc]) -> SettingsMap {
        docs.iter()
            .filter(|d| d.per_job && !d.secret)
            .filter_map(|d| Some((d.key.to_string(), self.values.get(d.key)?.clone())))
            .collect()
    }
}

/// The layers, highest first except the default (taken from the docs).
pub struct Layers<'a> {
    /// Values given explicitly (flags; a request's platform options), by key.
    pub explicit: &'a SettingsMap,
    /// The environment.
    pub env: &'a dyn EnvSource,
    /// The profile's name and its keys for this platform.
    pub profile: Option<(&'a str, &'a SettingsMap)>,
}

/// Layer `docs`' settings for `platform`: flag, then environment, then profile, then default.
/// Unknown keys name the nearest known one; values of the wrong kind name the key and kind.
pub fn resolve(
    platform: &str,
    docs: &[SettingDoc],
    layers: &Layers<'_>,
) -> Result<Resolved, InputError> {
    check_keys(
        platform,
        docs,
        layers.explicit.keys().map(String::as_str),
        None,
    )?;
    if let Some((name, p)) = layers.profile {
        check_keys(platform, docs, p.keys().map(String::as_str), Some(name))?;
    }
    let mut out = Resolved::default();
    for d in docs {
        let picked = if let Some(v) = layers.explicit.get(d.key).filter(|v| !v.is_null()) {
            let v = normalize(platform, d, v.clone(), "")?;
            Some((v, Source::Flag(d.flag.unwrap_or(d.key).to_string())))
        } else if let Some((name, text)) = d.env.iter().find_map(|n| Some((*n, layers.env.get(n)?)))
        {
            let v = from_text(d, &text).map_err(|expected| {
                InputError::new(
                    format!(
                        "{name}={text:?} is not {expected} ({platform} setting {})",
                        d.key
                    ),
                    format!("set {name} to {expected}, or unset it"),
                )
            })?;
            Some((v, Source::Env(name.to_string())))
        } else if let Some((pname, v)) = layers
            .profile
            .and_then(|(n, p)| Some((n, p.get(d.key)?.clone())))
        {
            let v = normalize(platform, d, v, &format!(" in profile {pname:?}"))?;
            Some((v, Source::Profile(pname.to_string())))
        } else if let DefaultValue::Value(text) = d.default {
            let v = from_text(d, text).map_err(|expected| {
                InputError::new(
                    format!(
                        "the default of {platform} setting {} is not {expected}",
                        d.key
                    ),
                    "report this: a platform declared a bad default",
                )
            })?;
            Some((v, Source::Default))
        } else {
            None
        };
        if let Some((v, src)) = picked {
            out.values.insert(d.key.to_string(), v);
            out.sources.insert(d.key.to_string(), src);
        }
    }
    Ok(out)
}

/// Refuse keys `docs` does not have, suggesting the nearest.
pub fn check_keys<'k>(
    platform: &str,
    docs: &[SettingDoc],
    keys: impl IntoIterator<Item = &'k str>,
    profile: Option<&str>,
) -> Result<(), InputError> {
    for k in keys {
        if docs.iter().any(|d| d.key == k) {
            continue;
        }
        let near = nearest(k, docs.iter().map(|d| d.key));
        let within = profile
            .map(|p| format!("fix profile {p:?} in $HOIST_HOME/config.toml; "))
            .unwrap_or_default();
        return Err(InputError::new(
            match near {
                Some(n) => format!("unknown setting {k:?} for {platform}; did you mean {n:?}?"),
                None => format!("unknown setting {k:?} for {platform}"),
            },
            format!(
                "{within}{platform} settings: {} (hoist platforms {platform} lists them with their docs)",
                docs.iter().map(|d| d.key).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok(())
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// Check a value given as data (flag, profile, request) against its kind, normalizing the
/// forms a person writes (`"a,b"` for a list, `"16g"` for a size).
fn normalize(platform: &str, d: &SettingDoc, v: Value, within: &str) -> Result<Value, InputError> {
    let bad = || {
        InputError::new(
            format!(
                "setting {:?} for {platform}{within} expects {}, not {v}",
                d.key,
                article(d.kind)
            ),
            format!("write {} = {}", d.key, example(d.kind)),
        )
    };
    let ok = match (d.kind, &v) {
        (SettingKind::String, Value::String(_)) => v.clone(),
        (SettingKind::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => v.clone(),
        (SettingKind::Number, Value::Number(_)) => v.clone(),
        (SettingKind::Bool, Value::Bool(_)) => v.clone(),
        (SettingKind::List, Value::String(s)) => split_list(s),
        (SettingKind::List, Value::Array(a)) if a.iter().all(Value::is_string) => v.clone(),
        (SettingKind::Map, Value::Object(m)) if m.values().all(Value::is_string) => v.clone(),
        (SettingKind::Size, Value::Number(n)) if n.is_u64() => v.clone(),
        (SettingKind::Size, Value::String(s)) => {
            Value::from(crate::spec::parse_memory(s).map_err(|_| bad())?)
        }
        _ => return Err(bad()),
    };
    Ok(ok)
}

/// Parse environment (or default) text into the kind; the error is the kind's description.
fn from_text(d: &SettingDoc, text: &str) -> Result<Value, String> {
    let t = text.trim();
    let want = || article(d.kind).to_string();
    Ok(match d.kind {
        SettingKind::String => Value::String(t.to_string()),
        SettingKind::Integer => Value::from(t.parse::<i64>().map_err(|_| want())?),
        SettingKind::Number => Value::from(t.parse::<f64>().map_err(|_| want())?),
        SettingKind::Bool => Value::Bool(parse_bool(t).ok_or_else(want)?),
        SettingKind::List => split_list(t),
        SettingKind::Map => {
            let mut m = Map::new();
            for pair in t.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(want)?;
                m.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
            }
            Value::Object(m)
        }
        SettingKind::Size => Value::from(crate::spec::parse_memory(t).map_err(|_| want())?),
    })
}

/// `1/true/yes/on` and `0/false/no/off`, any case.
pub fn parse_bool(t: &str) -> Option<bool> {
    match t.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn split_list(s: &str) -> Value {
    Value::Array(
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| Value::String(p.to_string()))
            .collect(),
    )
}

fn article(k: SettingKind) -> &'static str {
    match k {
        SettingKind::String => "a string",
        SettingKind::Integer => "an integer",
        SettingKind::Number => "a number",
        SettingKind::Bool => "a boolean (true or false)",
        SettingKind::List => "a list of strings",
        SettingKind::Map => "a table of strings (K=V,…)",
        SettingKind::Size => "a size (bytes, or e.g. 512m, 16g)",
    }
}

fn example(k: SettingKind) -> &'static str {
    match k {
        SettingKind::String => "\"text\"",
        SettingKind::Integer => "3",
        SettingKind::Number => "1.5",
        SettingKind::Bool => "true",
        SettingKind::List => "[\"a\", \"b\"]",
        SettingKind::Map => "{ key = \"value\" }",
        SettingKind::Size => "\"16g\"",
    }
}

/// Resolved settings read into a platform's typed settings. Keys and kinds were checked by
/// [`resolve`]; what can still fail is a range (a negative count), said with `hint`.
pub fn typed<T: serde::de::DeserializeOwned>(
    platform: &str,
    m: &SettingsMap,
    hint: &str,
) -> Result<T, InputError> {
    serde_json::from_value(Value::Object(m.clone()))
        .map_err(|e| InputError::new(format!("bad {platform} settings: {e}"), hint))
}

/// A pinned value read leniently: rows from older hoist versions pin a larger object (their
/// whole options), and a value of another shape pins nothing rather than stopping every later
/// verb on the job.
pub fn lenient<T: serde::de::DeserializeOwned + Default>(v: Option<&Value>) -> T {
    v.and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Mask a secret value for display.
pub fn masked(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        _ => Value::String("<secret>".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;
    use serde_json::json;

    const DOCS: &[SettingDoc] = &[
        SettingDoc::new("partition", SettingKind::String, "p")
            .env(&["SLURM_PARTITION"])
            .flag("--partition")
            .default("batch"),
        SettingDoc::new("hosts", SettingKind::List, "h").env(&["SLURM_HOSTNAME", "SSH_HOST"]),
        SettingDoc::new("time_hours", SettingKind::Number, "t").env(&["SLURM_TIME_HOURS"]),
        SettingDoc::new("requeue", SettingKind::Bool, "r").env(&["SLURM_USE_REQUEUE"]),
        SettingDoc::new("shm", SettingKind::Size, "s"),
    ];

    fn obj(v: Value) -> SettingsMap {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn flag_beats_env_beats_profile_beats_default() {
        let flags = obj(json!({"partition": "f"}));
        let none = SettingsMap::new();
        let env = MapEnv::of([("SLURM_PARTITION", "e")]);
        let empty = MapEnv::default();
        let prof = obj(json!({"partition": "p"}));
        let r = |explicit: &SettingsMap, env: &dyn EnvSource, profile: Option<&SettingsMap>| {
            let l = Layers {
                explicit,
                env,
                profile: profile.map(|p| ("gpu", p)),
            };
            let r = resolve("slurm", DOCS, &l).expect("resolve");
            (
                r.values["partition"].clone(),
                r.sources["partition"].clone(),
            )
        };
        assert_eq!(
            r(&flags, &env, Some(&prof)),
            (json!("f"), Source::Flag("--partition".into()))
        );
        assert_eq!(
            r(&none, &env, Some(&prof)),
            (json!("e"), Source::Env("SLURM_PARTITION".into()))
        );
        assert_eq!(
            r(&none, &empty, Some(&prof)),
            (json!("p"), Source::Profile("gpu".into()))
        );
        assert_eq!(r(&none, &empty, None), (json!("batch"), Source::Default));
    }

    #[test]
    fn kinds_are_checked_and_normalized() {
        let env = MapEnv::of([
            ("SSH_HOST", "a, b"),
            ("SLURM_TIME_HOURS", "1.5"),
            ("SLURM_USE_REQUEUE", "no"),
        ]);
        let prof = obj(json!({"shm": "1g"}));
        let l = Layers {
            explicit: &SettingsMap::new(),
            env: &env,
            profile: Some(("x", &prof)),
        };
        let r = resolve("slurm", DOCS, &l).expect("resolve");
        assert_eq!(r.values["hosts"], json!(["a", "b"]));
        assert_eq!(r.values["time_hours"], json!(1.5));
        assert_eq!(r.values["requeue"], json!(false));
        assert_eq!(r.values["shm"], json!(1u64 << 30));
        let bad = MapEnv::of([("SLURM_TIME_HOURS", "soon")]);
        let e = resolve(
            "slurm",
            DOCS,
            &Layers {
                explicit: &SettingsMap::new(),
                env: &bad,
                profile: None,
            },
        )
        .expect_err("not a number");
        assert!(e.message.contains("SLURM_TIME_HOURS") && e.message.contains("a number"));
        let p = obj(json!({"time_hours": "four"}));
        let e = resolve(
            "slurm",
            DOCS,
            &Layers {
                explicit: &SettingsMap::new(),
                env: &MapEnv::default(),
                profile: Some(("gpu", &p)),
            },
        )
        .expect_err("type");
        assert!(
            e.message
                .contains("setting \"time_hours\" for slurm in profile \"gpu\" expects a number"),
            "{}",
            e.message
        );
    }

    #[test]
    fn typos_name_the_nearest_key() {
        let p = obj(json!({"partiton": "x"}));
        let e = resolve(
            "slurm",
            DOCS,
            &Layers {
                explicit: &SettingsMap::new(),
                env: &MapEnv::default(),
                profile: Some(("gpu", &p)),
            },
        )
        .expect_err("typo");
        assert_eq!(
            e.message,
            "unknown setting \"partiton\" for slurm; did you mean \"partition\"?"
        );
        assert!(e.hint.contains("profile \"gpu\""), "{}", e.hint);
        assert_eq!(nearest("zzzzzz", ["partition", "hosts"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
