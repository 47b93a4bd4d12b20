//! What a front door asks for, as data: [`JobRequest`] (serde, so a task file, a Python call or
//! a web form can carry it) and the parsers every front door shares for the text forms users
//! type (`K=V`, `KEY=URI` bindings, `--arg` values, env files).

use hoist_core::settings::SettingsMap;
use hoist_core::spec::{DataBinding, EntryMode, SpecFormat};
use hoist_core::{Command, GpuSpec, InputError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a user asks to run, before profile defaults are applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// The command.
    pub command: Command,
    /// Name (default: from the command).
    #[serde(default)]
    pub name: Option<String>,
    /// Platform (default: `HOIST_PLATFORM`, the profile's, else `local`, or `docker` with an
    /// image).
    #[serde(default)]
    pub platform: Option<String>,
    /// Profile.
    #[serde(default)]
    pub profile: Option<String>,
    /// Image.
    #[serde(default)]
    pub image: Option<String>,
    /// GPUs per node.
    #[serde(default)]
    pub gpus: Option<GpuSpec>,
    /// The GPU model (`--gpus A100:2` gives `A100`).
    #[serde(default)]
    pub gpu_type: Option<String>,
    /// Nodes.
    #[serde(default)]
    pub nodes: Option<u32>,
    /// CPU limit.
    #[serde(default)]
    pub cpus: Option<f64>,
    /// Memory limit (bytes).
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// Environment in order of precedence (later wins); `None` takes the submitting
    /// environment's value.
    #[serde(default)]
    pub env: Vec<(String, Option<String>)>,
    /// Names in `env` that are secrets whatever they are called (a task's `secrets`): their
    /// values are never stored, printed or put in a job body.
    #[serde(default)]
    pub secret_env: Vec<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Shell for a shell-string command.
    #[serde(default)]
    pub shell: Option<String>,
    /// Working directory.
    #[serde(default)]
    pub workdir: Option<String>,
    /// Platform settings given with the request (flags, a task file's section), by platform
    /// name then setting key. They beat the environment and the profile; each platform checks
    /// its own.
    #[serde(default)]
    pub platform_options: BTreeMap<String, SettingsMap>,
    /// Inputs to fetch before the command runs.
    #[serde(default)]
    pub inputs: Vec<DataBinding>,
    /// Outputs to keep when it ends.
    #[serde(default)]
    pub outputs: Vec<DataBinding>,
    /// Config mode: the spec (nested map) written for the command.
    #[serde(default)]
    pub spec: Option<serde_json::Value>,
    /// Format the spec is written in (default yaml).
    #[serde(default)]
    pub spec_format: Option<SpecFormat>,
    /// Args mode: flags for the command.
    #[serde(default)]
    pub args: BTreeMap<String, serde_json::Value>,
    /// Mode (default: config with a spec, args with args, else passthrough).
    #[serde(default)]
    pub mode: Option<EntryMode>,
    /// Globs of result files never uploaded.
    #[serde(default)]
    pub upload_excludes: Vec<String>,
    /// This machine's files the job needs where it runs, shipped before submit.
    #[serde(default)]
    pub uploads: Vec<hoist_core::Upload>,
    /// Parent job.
    #[serde(default)]
    pub parent_job_id: Option<String>,
    /// Workflow.
    #[serde(default)]
    pub workflow_id: Option<String>,
}

impl JobRequest {
    /// A request with nothing but a command.
    pub fn new(command: Command) -> Self {
        JobRequest {
            command,
            name: None,
            platform: None,
            profile: None,
            image: None,
            gpus: None,
            gpu_type: None,
            nodes: None,
            cpus: None,
            memory_bytes: None,
            secret_env: Vec::new(),
            env: vec![],
            labels: BTreeMap::new(),
            shell: None,
            workdir: None,
            platform_options: BTreeMap::new(),
            inputs: vec![],
            outputs: vec![],
            spec: None,
            spec_format: None,
            args: BTreeMap::new(),
            mode: None,
            upload_excludes: vec![],
            uploads: vec![],
            parent_job_id: None,
            workflow_id: None,
        }
    }
}

/// `--gpus` as typed: a count, `all`, ids, or SkyPilot's `TYPE:N` / `TYPE` (one GPU of
/// that model). Returns the count and the model.
pub fn parse_gpus(text: &str) -> Result<(GpuSpec, Option<String>), InputError> {
    let t = text.trim();
    let (head, tail) = match t.rsplit_once(':') {
        Some((h, n)) => (h, Some(n)),
        None => (t, None),
    };
    // Every GPU model name carries a number (A100, T4, L40S, RTX6000); a word without one
    // is a mistyped count, and the count parser says so.
    let is_model = !head.eq_ignore_ascii_case("all")
        && head.chars().any(|c| c.is_ascii_digit())
        && head.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !is_model {
        return Ok((t.parse()?, None));
    }
    let count = match tail {
        None => 1,
        Some(n) => n.trim().parse::<u32>().map_err(|_| {
            InputError::new(
                format!("--gpus {t}: {n:?} is not a whole number of GPUs"),
                "write MODEL:COUNT, e.g. --gpus A100:8",
            )
        })?,
    };
    Ok((GpuSpec::Count(count), Some(head.to_string())))
}

/// `KEY=VALUE` as typed after `flag`; `example` shows a good one in the hint.
pub fn parse_kv(flag: &str, text: &str, example: &str) -> Result<(String, String), InputError> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(InputError::new(
            format!("malformed {flag} {text:?}"),
            format!("write {flag} {example}"),
        )),
    }
}

/// `KEY=URI` (URI required for inputs), or a bare `KEY` for an output.
pub fn parse_binding(
    flag: &str,
    text: &str,
    uri_required: bool,
) -> Result<DataBinding, InputError> {
    let (key, uri) = match text.split_once('=') {
        Some((k, u)) => (k, u),
        None if !uri_required => (text, ""),
        None => {
            return Err(InputError::new(
                format!("malformed {flag} {text:?}"),
                format!("write {flag} KEY=URI, e.g. {flag} dataset.train=s3://bucket/train.json"),
            ));
        }
    };
    if key.is_empty() || (uri_required && uri.is_empty()) {
        return Err(InputError::new(
            format!("malformed {flag} {text:?}"),
            format!("write {flag} KEY=URI"),
        ));
    }
    Ok(DataBinding {
        key: key.to_string(),
        uri: uri.to_string(),
    })
}

/// An `--arg NAME=VALUE`: the name without leading dashes, the value as JSON where it parses
/// (`3`, `true`, `[1,2]`) and as text otherwise.
pub fn parse_arg(text: &str) -> Result<(String, serde_json::Value), InputError> {
    let (k, v) = parse_kv("--arg", text, "NAME=VALUE, e.g. --arg epochs=3")?;
    let name = k.trim_start_matches('-');
    // The name becomes `--NAME` on the job's command line: an empty one would be a bare `--`.
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '=') {
        return Err(InputError::new(
            format!("bad --arg {text:?}: {k:?} is not an argument name"),
            "write --arg NAME=VALUE, e.g. --arg epochs=3",
        ));
    }
    let v = serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v));
    Ok((name.to_string(), v))
}

/// The `NAME=VALUE` lines of an env file on this machine.
pub fn read_env_file(path: &std::path::Path) -> Result<Vec<(String, String)>, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputError::new(
            format!("cannot read --env-file {}: {e}", path.display()),
            "check the path",
        )
    })?;
    hoist_core::spec::parse_env_file(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpus_with_a_model() {
        let p = |t: &str| parse_gpus(t).expect(t);
        assert_eq!(p("2"), (GpuSpec::Count(2), None));
        assert_eq!(p("all"), (GpuSpec::All, None));
        assert_eq!(p("device=0,1"), (GpuSpec::Ids(vec![0, 1]), None));
        assert_eq!(p("A100:8"), (GpuSpec::Count(8), Some("A100".into())));
        assert_eq!(
            p("H100-80GB"),
            (GpuSpec::Count(1), Some("H100-80GB".into()))
        );
        assert!(parse_gpus("A100:x").is_err());
        assert!(parse_gpus("lots").is_err(), "not a model: no number in it");
        assert_eq!(p("T4"), (GpuSpec::Count(1), Some("T4".into())));
        assert!(parse_gpus("A100;rm:1").is_err());
    }

    #[test]
    fn parsers() {
        assert_eq!(
            parse_kv("--label", "a=b=c", "K=V").ok(),
            Some(("a".into(), "b=c".into()))
        );
        assert!(parse_kv("--label", "ab", "K=V").is_err());
        assert!(parse_kv("--label", "=b", "K=V").is_err());
        assert_eq!(
            parse_arg("--epochs=3").ok(),
            Some(("epochs".into(), 3.into()))
        );
        assert_eq!(
            parse_arg("data=s3://b/x").ok(),
            Some(("data".into(), "s3://b/x".into()))
        );
        assert_eq!(
            parse_binding("-o", "out", false).map(|b| b.uri).ok(),
            Some(String::new())
        );
        assert!(parse_binding("-i", "out", true).is_err());
        assert!(parse_binding("-i", "=s3://b/k", true).is_err());
    }

    #[test]
    fn requests_round_trip_as_data() {
        let mut r = JobRequest::new(Command::Argv(vec!["python".into(), "train.py".into()]));
        r.platform = Some("kubernetes".into());
        r.platform_options.insert(
            "kubernetes".into(),
            serde_json::json!({"namespace": "ml"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        let text = serde_json::to_string(&r).expect("json");
        let back: JobRequest = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, r);
        let e = serde_json::from_str::<JobRequest>(r#"{"command":{"argv":["x"]},"gpu":1}"#);
        assert!(e.is_err(), "unknown fields are refused");
    }
}
