//! A job's data as the user binds it: entry modes, spec formats, bindings, URIs and dotted
//! spec keys. Pure rules; moving the data is `hoist-staging`'s.

use crate::spec::InputError;
use serde::{Deserialize, Serialize};

/// How the in-container runner wires data into the command (the TAO contract's three modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EntryMode {
    /// A spec file with inputs/outputs keyed by dotted paths into it.
    Config,
    /// Values substituted into the command as flags.
    Args,
    /// Inputs/outputs keyed by container paths; the command runs verbatim.
    #[default]
    Passthrough,
}

/// The serialization of a written spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecFormat {
    /// YAML.
    Yaml,
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

impl std::str::FromStr for EntryMode {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, InputError> {
        match s.to_ascii_lowercase().as_str() {
            "config" => Ok(EntryMode::Config),
            "args" => Ok(EntryMode::Args),
            "passthrough" => Ok(EntryMode::Passthrough),
            _ => Err(InputError::new(
                format!("unknown mode {s:?}"),
                "use config (a spec file), args (flags) or passthrough (paths)",
            )),
        }
    }
}

impl SpecFormat {
    /// The format a file name's extension says, if any.
    pub fn from_file_name(name: &str) -> Option<SpecFormat> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        ext.parse().ok()
    }

    /// The usual extension.
    pub fn extension(self) -> &'static str {
        match self {
            SpecFormat::Yaml => "yaml",
            SpecFormat::Toml => "toml",
            SpecFormat::Json => "json",
        }
    }
}

impl std::str::FromStr for SpecFormat {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, InputError> {
        match s.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Ok(SpecFormat::Yaml),
            "toml" => Ok(SpecFormat::Toml),
            "json" => Ok(SpecFormat::Json),
            _ => Err(InputError::new(
                format!("unknown spec format {s:?}"),
                "use yaml, toml or json",
            )),
        }
    }
}

/// One input or output: where it lives and where (or at which spec key) the job sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataBinding {
    /// A dotted spec path (`dataset.train[0].path`) in config/args mode, a container path in
    /// passthrough mode.
    pub key: String,
    /// `s3://`, `hf_model://`, `hf_dataset://`, `ngc://`, `lustre://`, `file://` or a local path.
    pub uri: String,
}

/// URI schemes hoist can move data from and to.
pub const SCHEMES: &[&str] = &["s3", "hf_model", "hf_dataset", "ngc", "lustre", "file"];

/// Check a data URI's shape (not its existence): a known scheme with the parts it needs.
pub fn validate_uri(uri: &str) -> Result<(), InputError> {
    let bad = |why: &str| {
        InputError::new(
            format!("malformed URI {uri:?}: {why}"),
            "use s3://bucket/key, hf_model://org/name, hf_dataset://org/name, ngc://org/team/model:version, lustre:///abs/path, file:///abs/path or a local path",
        )
    };
    if uri.trim().is_empty() {
        return Err(bad("it is empty"));
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        // A local path, unless it starts like a URI with its `://` mistyped (`s3//b/k`,
        // `s3:/b/k`, `hf_model:org/x`): read as a relative path it would fail far later.
        let lower = uri.to_ascii_lowercase();
        if let Some(s) = SCHEMES.iter().find(|s| {
            lower
                .strip_prefix(*s)
                .is_some_and(|r| r.starts_with(':') || r.starts_with("//"))
        }) {
            return Err(bad(&format!(
                "it starts like a {s}:// URI but lacks the \"://\""
            )));
        }
        return Ok(());
    };
    if !SCHEMES.contains(&scheme) {
        return Err(bad(&format!("unknown scheme {scheme:?}")));
    }
    match scheme {
        "s3" => {
            let bucket = rest.split('/').next().unwrap_or("");
            if bucket.len() < 3 {
                return Err(bad("an S3 bucket name has at least 3 characters"));
            }
        }
        "lustre" | "file" => {
            if !rest.starts_with('/') {
                return Err(bad("the path after :// must be absolute (three slashes)"));
            }
        }
        _ => {
            if rest.trim_matches('/').is_empty() {
                return Err(bad("the name after :// is missing"));
            }
        }
    }
    Ok(())
}

/// One step of a dotted spec path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStep {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Parse `a.b[0].c` into steps. Empty segments and malformed indexes are errors.
pub fn parse_key_path(path: &str) -> Result<Vec<KeyStep>, InputError> {
    let bad = || {
        InputError::new(
            format!("malformed spec key {path:?}"),
            "write dotted keys with list indexes in brackets, e.g. dataset.train[0].path",
        )
    };
    let mut steps = Vec::new();
    for seg in path.split('.') {
        let (name, mut rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        if name.is_empty() && (steps.is_empty() || rest.is_empty()) {
            return Err(bad());
        }
        if !name.is_empty() {
            steps.push(KeyStep::Key(name.to_string()));
        }
        while !rest.is_empty() {
            let close = rest.find(']').ok_or_else(bad)?;
            let idx: usize = rest[1..close].parse().map_err(|_| bad())?;
            steps.push(KeyStep::Index(idx));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(bad());
            }
        }
    }
    Ok(steps)
}

/// Keys of a spec that contain a dot at the top of a map: the seed's "most common mistake"
/// (`{"a.b.c": 1}` where `{"a": {"b": {"c": 1}}}` was meant). Returned as found.
pub fn find_flat_dotted_keys(spec: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    fn walk(v: &serde_json::Value, prefix: &str, found: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, child) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    if k.contains('.') {
                        found.push(p.clone());
                    }
                    walk(child, &p, found);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(child, &format!("{prefix}[{i}]"), found);
                }
            }
            _ => {}
        }
    }
    walk(spec, "", &mut found);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        for ok in [
            "s3://bucket/k",
            "hf_model://org/m",
            "ngc://nvidia/tao/x:1",
            "lustre:///fs/a",
            "file:///tmp/x",
            "/data/x",
            "rel/x",
        ] {
            assert!(validate_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "s3://ab/k",
            "gs://b/k",
            "lustre://rel",
            "hf_model://",
            "",
            "s3//bad",
            "s3:/b/k",
            "HF_MODEL:org/x",
        ] {
            assert!(validate_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_paths() {
        assert_eq!(
            parse_key_path("a.b[0].c").ok(),
            Some(vec![
                KeyStep::Key("a".into()),
                KeyStep::Key("b".into()),
                KeyStep::Index(0),
                KeyStep::Key("c".into())
            ])
        );
        assert_eq!(parse_key_path("m[1][2]").ok().map(|v| v.len()), Some(3));
        for bad in ["", "a..b", "a[x]", "a[1", ".a", "a[1]b"] {
            assert!(parse_key_path(bad).is_err(), "{bad}");
        }
    }
}
