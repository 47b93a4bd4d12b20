//! What a user asks to run: [`JobSpec`] and the parsing and validation of its parts.

use crate::gpu::GpuSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A mistake in what the user typed: shown as one line plus a fix, exit code 2, nothing stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    /// What is wrong, naming the bad value.
    pub message: String,
    /// What to do instead.
    pub hint: String,
}

impl InputError {
    /// An input error with its fix.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        InputError {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// The command a job runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Executed directly, no shell in between (local), or quoted into one (containers).
    Argv(Vec<String>),
    /// One string for a shell (`/bin/sh -c` unless the spec names another shell).
    Shell(String),
}

impl Command {
    /// What follows `--` on the command line. One argument that needs a shell (spaces,
    /// pipes, `$VAR`, `&&` …) is a shell string; anything else is an argv.
    pub fn from_cli(args: Vec<String>) -> Result<Command, InputError> {
        if args.is_empty() || args.iter().all(|a| a.trim().is_empty()) {
            return Err(InputError::new(
                "no command given",
                "put the command after --, e.g. hoist run -- python train.py",
            ));
        }
        if args.len() == 1 && needs_shell(&args[0]) {
            let mut args = args;
            return Ok(Command::Shell(args.remove(0)));
        }
        Ok(Command::Argv(args))
    }

    /// The command as one line a person can read (argv words quoted where needed).
    pub fn display(&self) -> String {
        match self {
            Command::Shell(s) => s.clone(),
            Command::Argv(a) => a.iter().map(|w| sh_quote(w)).collect::<Vec<_>>().join(" "),
        }
    }
}

fn needs_shell(s: &str) -> bool {
    s.chars().any(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '|' | '&'
                    | ';'
                    | '<'
                    | '>'
                    | '('
                    | ')'
                    | '$'
                    | '`'
                    | '*'
                    | '?'
                    | '['
                    | '~'
                    | '{'
                    | '"'
                    | '\''
            )
    })
}

/// Quote one word for a POSIX shell. Words made only of safe characters stay bare; anything
/// else is wrapped in single quotes with embedded quotes spliced as `'"'"'`. NUL cannot be
/// represented in a shell word, so it is rejected by [`sh_quote_checked`].
pub fn sh_quote(word: &str) -> String {
    if !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.' | '/' | ':' | '=' | '@' | '%' | '+' | ',')
        })
    {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\"'\"'");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// [`sh_quote`], refusing a NUL byte that no shell word can carry.
pub fn sh_quote_checked(word: &str) -> Result<String, InputError> {
    if word.contains('\0') {
        return Err(InputError::new(
            "a command word contains a NUL byte",
            "remove the NUL byte; shells cannot pass it",
        ));
    }
    Ok(sh_quote(word))
}

/// One environment variable of a job.
///
/// Secret values never reach the store: they are held as `Secret` (name only) and the value is
/// read again from the submitting process's environment when the job is launched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvValue {
    /// A plain value, stored as given.
    Literal(String),
    /// Taken from the submitting environment at launch; only the name is kept.
    FromHost,
    /// A secret: the value exists only in the launching process and the job.
    Secret,
}

/// Names whose values are credentials. Values of these are never written anywhere hoist owns.
pub fn is_secret_name(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "ACCESS_KEY",
        "SECRET_KEY",
        "NGC_KEY",
        "NGC_API_KEY",
        "HF_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "DOCKER_PASSWORD",
        "SKYPILOT_DOCKER_PASSWORD",
        "BREV_API_TOKEN",
        "LEPTON_API_TOKEN",
        "WANDB_API_KEY",
    ];
    let up = name.to_ascii_uppercase();
    EXACT.contains(&up.as_str())
        || [
            "SECRET",
            "TOKEN",
            "PASSWORD",
            "PASSWD",
            "API_KEY",
            "APIKEY",
            "CREDENTIAL",
            "PRIVATE_KEY",
        ]
        .iter()
        .any(|w| up.contains(w))
        || up.ends_with("_KEY")
}

/// Check an environment variable name.
pub fn validate_env_name(name: &str) -> Result<(), InputError> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(InputError::new(
            format!("bad environment variable name {name:?}"),
            "names are letters, digits and _, not starting with a digit",
        ))
    }
}

/// Parse one `--env` argument: `K=V`, or `K` alone to pass the submitting shell's value.
pub fn parse_env_arg(arg: &str) -> Result<(String, Option<String>), InputError> {
    let (name, value) = match arg.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (arg, None),
    };
    validate_env_name(name).map_err(|e| {
        InputError::new(
            format!("malformed --env {arg:?}: {}", e.message),
            "write --env NAME=VALUE, or --env NAME to pass the value of NAME from this shell",
        )
    })?;
    Ok((name.to_string(), value))
}

/// Parse an env file: `K=V` lines, `#` comments, blank lines, optional `export `, and values in
/// matching single or double quotes. Errors name the line.
pub fn parse_env_file(text: &str, path: &str) -> Result<Vec<(String, String)>, InputError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((name, value)) = line.split_once('=') else {
            return Err(InputError::new(
                format!("{path}:{}: expected NAME=VALUE, found {line:?}", i + 1),
                "fix or comment out that line of the env file",
            ));
        };
        let name = name.trim();
        validate_env_name(name)
            .map_err(|e| InputError::new(format!("{path}:{}: {}", i + 1, e.message), e.hint))?;
        let v = value.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            &v[1..v.len() - 1]
        } else {
            v
        };
        out.push((name.to_string(), v.to_string()));
    }
    Ok(out)
}

/// Parse a memory size: bytes, or a number with k/m/g/t (powers of 1024, optional `i`/`b`).
pub fn parse_memory(s: &str) -> Result<u64, InputError> {
    let bad = || {
        InputError::new(
            format!("bad --memory value {s:?}"),
            "use a size such as 512m, 16g or 1073741824 (bytes)",
        )
    };
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches('b').trim_end_matches('i');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some(_) => (t, 1),
        None => return Err(bad()),
    };
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if !(n.is_finite() && n > 0.0) {
        return Err(bad());
    }
    let bytes = (n * mult as f64) as u64;
    if bytes < 4096 {
        return Err(InputError::new(
            format!("--memory {s:?} is {bytes} bytes, too small to start any process"),
            "units are bytes unless you add k, m or g (e.g. 512m)",
        ));
    }
    Ok(bytes)
}

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
        return Ok(()); // a local path
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

/// The rendezvous variables torchrun and TAO containers read, for `nodes` nodes of
/// `gpus_per_node` GPUs. `node_rank` and `master_addr` are what the platform can say (a
/// literal, or a shell expansion the job's shell evaluates).
pub fn rendezvous_env(
    nodes: u32,
    gpus_per_node: u32,
    node_rank: &str,
    master_addr: &str,
) -> Vec<(String, String)> {
    [
        ("WORLD_SIZE", nodes.to_string()),
        ("NNODES", nodes.to_string()),
        ("NUM_GPU_PER_NODE", gpus_per_node.to_string()),
        ("NPROC_PER_NODE", gpus_per_node.max(1).to_string()),
        ("NODE_RANK", node_rank.to_string()),
        ("MASTER_ADDR", master_addr.to_string()),
        ("MASTER_PORT", "29500".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Everything a user asks for when submitting a job. Stored (with secret values removed) so
/// that a retry or a `hoist show` sees the same request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Human name; JOB arguments may use it.
    pub name: String,
    /// Container image; `None` runs on the host.
    pub image: Option<String>,
    /// What to run.
    pub command: Command,
    /// GPUs per node.
    pub gpus: GpuSpec,
    /// Number of nodes.
    pub nodes: u32,
    /// CPU limit (cores, fractional allowed).
    pub cpus: Option<f64>,
    /// Memory limit in bytes.
    pub memory_bytes: Option<u64>,
    /// Environment for the job.
    pub env: BTreeMap<String, EnvValue>,
    /// Free-form labels, carried to the backend where it has them.
    pub labels: BTreeMap<String, String>,
    /// Shell for a shell-string command (default `/bin/sh`).
    pub shell: Option<String>,
    /// Working directory of the command.
    pub workdir: Option<String>,
    /// Inputs to fetch before the command runs.
    pub inputs: Vec<DataBinding>,
    /// Outputs to upload when it ends.
    pub outputs: Vec<DataBinding>,
    /// A spec (nested map) written for the command in config mode.
    pub spec: Option<serde_json::Value>,
    /// Format of the written spec.
    pub spec_format: Option<SpecFormat>,
    /// Entry mode for the runner.
    pub mode: EntryMode,
    /// Args mode: flags for the command (`--key value`).
    #[serde(default)]
    pub args: BTreeMap<String, serde_json::Value>,
    /// Globs of result files never uploaded.
    #[serde(default)]
    pub upload_excludes: Vec<String>,
    /// Per-job options of the job's platform, keyed by platform name. Each platform reads
    /// its own entry ([`JobSpec::options_of`]); nothing else looks inside.
    #[serde(default)]
    pub platform_options: BTreeMap<String, serde_json::Value>,
}

impl JobSpec {
    /// A spec with defaults for everything but the command.
    pub fn new(command: Command) -> Self {
        JobSpec {
            name: default_name(&command),
            image: None,
            command,
            gpus: GpuSpec::None,
            nodes: 1,
            cpus: None,
            memory_bytes: None,
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            shell: None,
            workdir: None,
            inputs: vec![],
            outputs: vec![],
            spec: None,
            spec_format: None,
            mode: EntryMode::Passthrough,
            args: BTreeMap::new(),
            upload_excludes: vec![],
            platform_options: BTreeMap::new(),
        }
    }

    /// The platform `name`'s options, read into its own type. A missing entry is the
    /// type's default; unknown keys are ignored, because rows written by other hoist
    /// versions carry keys this one may not know (user input is checked strictly before it
    /// gets here, by the platform's settings).
    pub fn options_of<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, InputError> {
        match self.platform_options.get(name) {
            None | Some(serde_json::Value::Null) => Ok(T::default()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                InputError::new(
                    format!("the job's {name} options cannot be read: {e}"),
                    "the job was written by an incompatible hoist; submit it again",
                )
            }),
        }
    }

    /// Add an env var, classifying secrets by name so their value is never stored.
    pub fn set_env(&mut self, name: &str, value: Option<String>) {
        let v = match value {
            _ if is_secret_name(name) => EnvValue::Secret,
            Some(v) => EnvValue::Literal(v),
            None => EnvValue::FromHost,
        };
        self.env.insert(name.to_string(), v);
    }

    /// Check everything that can be checked without touching the world.
    pub fn validate(&self) -> Result<(), InputError> {
        validate_name(&self.name)?;
        let empty = match &self.command {
            Command::Argv(a) => a.first().is_none_or(|w| w.is_empty()),
            Command::Shell(sh) => sh.trim().is_empty(),
        };
        if empty {
            return Err(InputError::new(
                "no command given",
                "put the command after --",
            ));
        }
        if self.nodes == 0 {
            return Err(InputError::new(
                "--nodes 0 asks for no node",
                "use --nodes 1 or more",
            ));
        }
        if let Some(c) = self.cpus
            && !(c.is_finite() && c > 0.0)
        {
            return Err(InputError::new(
                format!("bad --cpus value {c}"),
                "use a positive number such as 4 or 0.5",
            ));
        }
        if let Some(img) = &self.image
            && (img.trim().is_empty() || img.chars().any(char::is_whitespace))
        {
            return Err(InputError::new(
                format!("bad --image value {img:?}"),
                "an image reference has no spaces, e.g. nvcr.io/nvidia/pytorch:24.05-py3",
            ));
        }
        for name in self.env.keys() {
            validate_env_name(name)?;
        }
        for k in self.labels.keys() {
            if k.is_empty()
                || k.len() > 63
                || !k
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
            {
                return Err(InputError::new(
                    format!("bad label key {k:?}"),
                    "label keys are 1-63 characters of letters, digits, - _ . /",
                ));
            }
        }
        if self.spec.is_some() && !self.args.is_empty() {
            return Err(InputError::new(
                "both a spec and args were given",
                "a job takes its settings either as a spec file (config mode) or as flags (args mode), not both",
            ));
        }
        for b in &self.inputs {
            validate_uri(&b.uri)?;
        }
        for b in self.inputs.iter().chain(&self.outputs) {
            // An output without a URI goes to the job's results location.
            if !b.uri.is_empty() {
                validate_uri(&b.uri)?;
            }
            if self.mode != EntryMode::Passthrough {
                parse_key_path(&b.key)?;
            } else if !b.key.starts_with('/') {
                return Err(InputError::new(
                    format!("passthrough path {:?} is not absolute", b.key),
                    "in passthrough mode bind data to absolute paths, e.g. --input /data/train.json=s3://bucket/train.json",
                ));
            }
        }
        if let Some(spec) = &self.spec {
            if !spec.is_object() {
                return Err(InputError::new(
                    "the spec is not a map",
                    "a spec file holds a map (YAML mapping, TOML table, JSON object) at its top",
                ));
            }
            let flat = find_flat_dotted_keys(spec);
            if !flat.is_empty() {
                return Err(InputError::new(
                    format!(
                        "the spec has flat dotted keys ({}): they are written as literal keys and the job sees an empty section",
                        flat.join(", ")
                    ),
                    "nest them: {\"a\": {\"b\": 1}} rather than {\"a.b\": 1}",
                ));
            }
        }
        Ok(())
    }

    /// The same spec with the values of secret variables removed, for storage and display.
    pub fn redacted(&self) -> JobSpec {
        let mut s = self.clone();
        for (k, v) in s.env.iter_mut() {
            if is_secret_name(k) {
                *v = EnvValue::Secret;
            }
        }
        s
    }
}

/// Check a job name: 1-63 characters of letters, digits, `-`, `_`, `.`, starting alphanumeric.
pub fn validate_name(name: &str) -> Result<(), InputError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(InputError::new(
            format!("bad job name {name:?}"),
            "names are 1-63 letters, digits, - _ . and start with a letter or digit",
        ))
    }
}

/// A name from the command's program (`python train.py` -> `python`), made valid.
pub fn default_name(cmd: &Command) -> String {
    let first = match cmd {
        Command::Argv(a) => a.first().cloned().unwrap_or_default(),
        Command::Shell(s) => s.split_whitespace().next().unwrap_or_default().to_string(),
    };
    let base = first.rsplit('/').next().unwrap_or("");
    let mut name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    name = name
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if name.is_empty() {
        "job".to_string()
    } else {
        name
    }
}

impl fmt::Display for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvValue::Literal(v) => f.write_str(v),
            EnvValue::FromHost => f.write_str("<from submitting environment>"),
            EnvValue::Secret => f.write_str("<secret>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn command_forms() {
        assert_eq!(
            Command::from_cli(s(&["python", "train.py"])).ok(),
            Some(Command::Argv(s(&["python", "train.py"])))
        );
        assert_eq!(
            Command::from_cli(s(&["echo hi | wc"])).ok(),
            Some(Command::Shell("echo hi | wc".into()))
        );
        assert_eq!(
            Command::from_cli(s(&["true"])).ok(),
            Some(Command::Argv(s(&["true"])))
        );
        assert!(Command::from_cli(vec![]).is_err());
        assert!(Command::from_cli(s(&[" "])).is_err());
    }

    #[test]
    fn quoting_survives_hostile_words() {
        assert_eq!(sh_quote("plain/path-1.txt"), "plain/path-1.txt");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\"'\"'s'");
        assert_eq!(sh_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert!(sh_quote_checked("a\0b").is_err());
        let cmd = Command::Argv(s(&["echo", "; touch /tmp/pwned", "`id`"]));
        assert_eq!(cmd.display(), "echo '; touch /tmp/pwned' '`id`'");
    }

    #[test]
    fn env_args() {
        assert_eq!(
            parse_env_arg("A=1").ok(),
            Some(("A".into(), Some("1".into())))
        );
        assert_eq!(
            parse_env_arg("A=x=y").ok(),
            Some(("A".into(), Some("x=y".into())))
        );
        assert_eq!(parse_env_arg("HOME").ok(), Some(("HOME".into(), None)));
        for bad in ["=1", "1A=2", "A-B=3", ""] {
            let e = parse_env_arg(bad).expect_err(bad);
            assert!(e.message.contains("--env"));
        }
    }

    #[test]
    fn env_file() {
        let got =
            parse_env_file("# c\n\nexport A=1\nB = \"two words\"\nC='x'\n", "f").expect("parse");
        assert_eq!(
            got,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into())
            ]
        );
        let e = parse_env_file("A=1\nnonsense\n", "f.env").expect_err("bad");
        assert!(e.message.starts_with("f.env:2:"), "{}", e.message);
    }

    #[test]
    fn secrets_by_name() {
        for n in [
            "HF_TOKEN",
            "SECRET_KEY",
            "ACCESS_KEY",
            "NGC_KEY",
            "MY_API_KEY",
            "db_password",
            "GITHUB_TOKEN",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "PATH",
            "S3_BUCKET_NAME",
            "SLURM_USER",
            "KEYBOARD",
            "CUDA_VISIBLE_DEVICES",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
        let mut spec = JobSpec::new(Command::Argv(s(&["x"])));
        spec.set_env("HF_TOKEN", Some("hf_abc".into()));
        spec.set_env("MODE", Some("fast".into()));
        spec.set_env("HOME", None);
        let stored = serde_json::to_string(&spec.redacted()).expect("json");
        assert!(!stored.contains("hf_abc"));
        assert!(stored.contains("fast"));
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("512m").ok(), Some(512 << 20));
        assert_eq!(parse_memory("16G").ok(), Some(16 << 30));
        assert_eq!(parse_memory("1.5gi").ok(), Some(3 << 29));
        assert_eq!(parse_memory("1048576").ok(), Some(1 << 20));
        for bad in ["", "m", "-1g", "lots", "12"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
    }

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
        for bad in ["s3://ab/k", "gs://b/k", "lustre://rel", "hf_model://", ""] {
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

    #[test]
    fn flat_keys_are_caught() {
        assert_eq!(
            find_flat_dotted_keys(&json!({"a": {"b.c": 1}, "l": [{"x.y": 2}]})),
            vec!["a.b.c".to_string(), "l[0].x.y".to_string()]
        );
        let mut spec = JobSpec::new(Command::Argv(s(&["x"])));
        spec.spec = Some(json!({"dataset.train": "s3://bkt/a"}));
        let e = spec.validate().expect_err("flat");
        assert!(e.message.contains("dataset.train"));
        spec.spec = Some(json!({"dataset": {"train": "s3://bkt/a"}}));
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn rendezvous() {
        let env: BTreeMap<String, String> =
            rendezvous_env(1, 4, "0", "localhost").into_iter().collect();
        assert_eq!(env["NPROC_PER_NODE"], "4");
        assert_eq!(env["WORLD_SIZE"], "1");
        assert_eq!(env["MASTER_ADDR"], "localhost");
        assert_eq!(env["MASTER_PORT"], "29500");
    }

    #[test]
    fn names() {
        assert_eq!(
            default_name(&Command::Argv(s(&["/usr/bin/Python3", "x"]))),
            "python3"
        );
        assert_eq!(default_name(&Command::Shell("  ".into())), "job");
        assert!(validate_name("train-1.b_2").is_ok());
        assert!(validate_name("-x").is_err());
        assert!(validate_name(&"a".repeat(64)).is_err());
    }
}
