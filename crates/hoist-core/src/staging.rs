//! The rules of data staging, shared by the submitting side and the in-job runner: what a
//! URI means, where results go, which credentials a job needs, how a spec is addressed and
//! rewritten. The runner itself (downloads, archives, the child process) lives in
//! `hoist-staging`; everything here is a pure function of its arguments.

use crate::spec::{
    Command, DataBinding, EntryMode, InputError, JobSpec, KeyStep, SpecFormat, parse_key_path,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Where, inside a container, the runner binary is mounted.
pub const RUNNER_DIR: &str = "/.hoist";

/// The environment variable that carries the plan (JSON) when no plan file is given.
pub const RUNNER_PLAN_ENV: &str = "HOIST_PLAN";

/// The static hoist binary a platform puts in front of a job's command, with its content
/// hash (what SLURM staging and the docker runner volume are keyed by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerBinary {
    /// Where it is on the submitting machine.
    pub path: std::path::PathBuf,
    /// Hex SHA-256 of its contents.
    pub sha256: String,
}

impl RunnerBinary {
    /// The short form used in file and volume names.
    pub fn short_hash(&self) -> &str {
        &self.sha256[..self.sha256.len().min(16)]
    }
}

/// What the in-job runner does for one job, written next to it as JSON. It never holds a
/// secret: credentials reach the job as environment only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerPlan {
    /// The hoist job id (TAO_JOB_ID).
    pub job_id: String,
    /// How data is wired into the command.
    pub mode: EntryMode,
    /// The user's command, before `{config_path}` or args are put in.
    pub command: Command,
    /// Shell for a shell-string command.
    pub shell: Option<String>,
    /// Config mode: the spec to write.
    pub spec: Option<Value>,
    /// Format of the written spec.
    pub spec_format: SpecFormat,
    /// Args mode: flags for the command.
    pub args: BTreeMap<String, Value>,
    /// Inputs to fetch first.
    pub inputs: Vec<DataBinding>,
    /// Outputs to route and upload at the end.
    pub outputs: Vec<DataBinding>,
    /// Globs of files never uploaded.
    pub upload_excludes: Vec<String>,
}

impl RunnerPlan {
    /// The runner's plan for a job, or `None` when the job needs no staging at all (then no
    /// runner is put in front of the command and start-up costs nothing).
    pub fn for_job(job_id: &str, spec: &JobSpec) -> Option<RunnerPlan> {
        let needed = !spec.inputs.is_empty()
            || !spec.outputs.is_empty()
            || spec.spec.is_some()
            || !spec.args.is_empty()
            || spec.mode != EntryMode::Passthrough;
        needed.then(|| RunnerPlan {
            job_id: job_id.to_string(),
            mode: spec.mode,
            command: spec.command.clone(),
            shell: spec.shell.clone(),
            spec: spec.spec.clone(),
            spec_format: spec.spec_format.unwrap_or(SpecFormat::Yaml),
            args: spec.args.clone(),
            inputs: spec.inputs.clone(),
            outputs: spec.outputs.clone(),
            upload_excludes: spec.upload_excludes.clone(),
        })
    }

    /// Every URI the plan reads or writes, spec values included.
    pub fn uris(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .inputs
            .iter()
            .chain(&self.outputs)
            .map(|b| b.uri.clone())
            .filter(|u| !u.is_empty())
            .collect();
        if let Some(spec) = &self.spec {
            out.extend(remote_values(spec).into_iter().map(|(_, u)| u));
        }
        for v in self.args.values() {
            if let Some(s) = v.as_str()
                && Scheme::of(s).is_remote()
            {
                out.push(s.to_string());
            }
        }
        out
    }
}

/// The kind of location a URI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `s3://bucket/key`.
    S3,
    /// `hf_model://org/name[@revision]`.
    HfModel,
    /// `hf_dataset://org/name[@revision]`.
    HfDataset,
    /// `ngc://org/[team/]name:version`.
    Ngc,
    /// `lustre:///abs/path`: a path on the cluster's shared file system.
    Lustre,
    /// `file:///abs/path`.
    File,
    /// A plain path.
    Local,
}

impl Scheme {
    /// The scheme of `uri` (a plain path when it has none hoist knows).
    pub fn of(uri: &str) -> Scheme {
        match uri.split_once("://").map(|(s, _)| s) {
            Some("s3") => Scheme::S3,
            Some("hf_model") => Scheme::HfModel,
            Some("hf_dataset") => Scheme::HfDataset,
            Some("ngc") => Scheme::Ngc,
            Some("lustre") => Scheme::Lustre,
            Some("file") => Scheme::File,
            _ => Scheme::Local,
        }
    }

    /// Data that must be fetched over the network (not a path the job can open).
    pub fn is_remote(self) -> bool {
        matches!(
            self,
            Scheme::S3 | Scheme::HfModel | Scheme::HfDataset | Scheme::Ngc
        )
    }
}

/// The path a `lustre://`, `file://` or plain URI names; `None` for remote schemes.
pub fn local_path(uri: &str) -> Option<&str> {
    match Scheme::of(uri) {
        Scheme::Lustre => uri.strip_prefix("lustre://"),
        Scheme::File => uri.strip_prefix("file://"),
        Scheme::Local => Some(uri),
        _ => None,
    }
}

/// `s3://bucket/some/key` → (`bucket`, `some/key`); the key may be empty (the bucket's root).
pub fn parse_s3(uri: &str) -> Result<(&str, &str), InputError> {
    let rest = uri.strip_prefix("s3://").ok_or_else(|| {
        InputError::new(
            format!("{uri:?} is not an s3:// URI"),
            "write s3://bucket/key",
        )
    })?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.len() < 3 {
        return Err(InputError::new(
            format!("malformed URI {uri:?}: an S3 bucket name has at least 3 characters"),
            "write s3://bucket/key",
        ));
    }
    Ok((bucket, key))
}

/// A Hugging Face repository reference: `hf_model://org/name[@revision]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfRepo {
    /// `org/name`.
    pub repo: String,
    /// Branch, tag or commit (default `main`).
    pub revision: String,
    /// A dataset rather than a model.
    pub dataset: bool,
}

/// Parse an `hf_model://` or `hf_dataset://` URI.
pub fn parse_hf(uri: &str) -> Result<HfRepo, InputError> {
    let (dataset, rest) = if let Some(r) = uri.strip_prefix("hf_model://") {
        (false, r)
    } else if let Some(r) = uri.strip_prefix("hf_dataset://") {
        (true, r)
    } else {
        return Err(InputError::new(
            format!("{uri:?} is not a Hugging Face URI"),
            "write hf_model://org/name or hf_dataset://org/name",
        ));
    };
    let (repo, revision) = match rest.split_once('@') {
        Some((r, rev)) if !rev.is_empty() => (r, rev.to_string()),
        _ => (rest, "main".to_string()),
    };
    let repo = repo.trim_matches('/');
    if repo.is_empty() || repo.split('/').any(|p| p.is_empty() || p == "..") {
        return Err(InputError::new(
            format!("malformed URI {uri:?}: the repository name is missing or odd"),
            "write hf_model://org/name[@revision]",
        ));
    }
    Ok(HfRepo {
        repo: repo.to_string(),
        revision,
        dataset,
    })
}

/// An NGC registry model: `ngc://org[/team]/name:version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NgcModel {
    /// Organisation.
    pub org: String,
    /// Team, when the model belongs to one.
    pub team: Option<String>,
    /// Model name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// Parse an `ngc://` URI.
pub fn parse_ngc(uri: &str) -> Result<NgcModel, InputError> {
    let bad = || {
        InputError::new(
            format!("malformed URI {uri:?}"),
            "write ngc://org/team/model:version (or ngc://org/model:version)",
        )
    };
    let rest = uri.strip_prefix("ngc://").ok_or_else(bad)?;
    let (path, version) = rest.rsplit_once(':').ok_or_else(bad)?;
    let parts: Vec<&str> = path.split('/').collect();
    if version.is_empty() || parts.iter().any(|p| p.is_empty() || *p == "..") {
        return Err(bad());
    }
    let (org, team, name) = match parts.as_slice() {
        [org, name] => (org, None, name),
        [org, team, name] => (org, Some(team.to_string()), name),
        _ => return Err(bad()),
    };
    Ok(NgcModel {
        org: org.to_string(),
        team,
        name: name.to_string(),
        version: version.to_string(),
    })
}

/// Where a job's results go, decided inside the job from its environment (the TAO order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultsKind {
    /// `TAO_RESULTS_ROOT` is set: results stay under `<root>/<job_id>`, nothing is uploaded.
    Mount(String),
    /// `S3_BUCKET_NAME` is set: results are uploaded to `s3://<bucket>/results/<job_id>/`.
    S3(String),
    /// Neither: `/results/<job_id>` inside the job, lost with it (said loudly).
    Ephemeral,
}

impl ResultsKind {
    /// Decide from an environment lookup.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> ResultsKind {
        let set = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(root) = set("TAO_RESULTS_ROOT") {
            ResultsKind::Mount(root)
        } else if let Some(b) = set("S3_BUCKET_NAME") {
            ResultsKind::S3(b)
        } else {
            ResultsKind::Ephemeral
        }
    }

    /// The job's results directory as the job sees it.
    pub fn local_dir(&self, job_id: &str) -> String {
        match self {
            ResultsKind::Mount(root) => format!("{}/{job_id}", root.trim_end_matches('/')),
            _ => format!("/results/{job_id}"),
        }
    }

    /// Where the results end up, as a user would address them afterwards.
    pub fn location(&self, job_id: &str) -> String {
        match self {
            ResultsKind::S3(b) => format!("s3://{b}/results/{job_id}/"),
            _ => self.local_dir(job_id),
        }
    }
}

/// Environment variables a job needs for the URIs it touches (and for S3 results), in the
/// TAO names and the standard AWS/HF names. Only these are passed on; their values are read
/// where the job is submitted and never stored.
pub fn credential_env_names(uris: &[String], s3_results: bool) -> Vec<&'static str> {
    const S3: &[&str] = &[
        "ACCESS_KEY",
        "SECRET_KEY",
        "S3_ENDPOINT_URL",
        "CLOUD_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    ];
    const HF: &[&str] = &["HF_TOKEN", "HF_ENDPOINT"];
    const NGC: &[&str] = &[
        "NGC_KEY",
        "NGC_API_KEY",
        "NGC_ENDPOINT",
        "NGC_AUTH_ENDPOINT",
    ];
    let mut out: Vec<&'static str> = Vec::new();
    let mut add = |names: &[&'static str]| {
        for n in names {
            if !out.contains(n) {
                out.push(n);
            }
        }
    };
    if s3_results {
        add(S3);
    }
    for u in uris {
        match Scheme::of(u) {
            Scheme::S3 => add(S3),
            Scheme::HfModel | Scheme::HfDataset => add(HF),
            Scheme::Ngc => add(NGC),
            _ => {}
        }
    }
    out
}

/// The value at a dotted path, if every step exists.
pub fn get_at<'a>(v: &'a Value, steps: &[KeyStep]) -> Option<&'a Value> {
    steps.iter().try_fold(v, |cur, s| match s {
        KeyStep::Key(k) => cur.as_object()?.get(k),
        KeyStep::Index(i) => cur.as_array()?.get(*i),
    })
}

/// Set the value at a dotted path, creating missing maps on the way. A list index must
/// exist (a spec's lists have the model's shape; hoist does not invent elements), and a
/// step through a scalar is an error: both name the path.
pub fn set_at(v: &mut Value, path: &str, new: Value) -> Result<(), InputError> {
    let steps = parse_key_path(path)?;
    let mut cur = v;
    for (n, s) in steps.iter().enumerate() {
        let last = n + 1 == steps.len();
        cur = match s {
            KeyStep::Key(k) => {
                if cur.is_null() {
                    *cur = Value::Object(Default::default());
                }
                let m = cur.as_object_mut().ok_or_else(|| {
                    InputError::new(
                        format!(
                            "spec key {path:?} goes through a value that is not a map (at {k:?})"
                        ),
                        "check the key against the spec's nesting",
                    )
                })?;
                if last {
                    m.insert(k.clone(), new);
                    return Ok(());
                }
                m.entry(k.clone()).or_insert(Value::Null)
            }
            KeyStep::Index(i) => {
                let len = cur.as_array().map(Vec::len);
                let a = cur.as_array_mut().filter(|a| *i < a.len()).ok_or_else(|| {
                    InputError::new(
                        match len {
                            Some(len) => {
                                format!("spec key {path:?} indexes [{i}] of a list of {len}")
                            }
                            None => format!(
                                "spec key {path:?} indexes [{i}] of something that is not a list"
                            ),
                        },
                        "put the list in the spec first; hoist only fills existing elements",
                    )
                })?;
                if last {
                    a[*i] = new;
                    return Ok(());
                }
                &mut a[*i]
            }
        };
    }
    Ok(())
}

/// Every string in a spec that holds a remote URI, with its dotted path: what config mode
/// downloads even when no `--input` names it.
pub fn remote_values(spec: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) if Scheme::of(s).is_remote() => out.push((path.into(), s.clone())),
            Value::Object(m) => {
                for (k, c) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(c, &p, out);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    walk(c, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(spec, "", &mut out);
    out
}

/// A file-system-safe name for a key: `dataset.train[0]` → `dataset_train_0`.
pub fn key_dir_name(key: &str) -> String {
    let mut s: String = key
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let s = s.trim_matches('_').to_string();
    if s.is_empty() { "data".into() } else { s }
}

/// Args mode: `{"epochs": 3, "lr": 0.1, "amp": true}` → `--epochs 3 --lr 0.1 --amp`. A
/// `false` or null flag is left out; a list repeats the flag.
pub fn args_words(args: &BTreeMap<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in args {
        let flag = if k.starts_with('-') {
            k.clone()
        } else {
            format!("--{k}")
        };
        let mut push = |v: &Value| match v {
            Value::Bool(true) => out.push(flag.clone()),
            Value::Bool(false) | Value::Null => {}
            Value::String(s) => {
                out.push(flag.clone());
                out.push(s.clone());
            }
            other => {
                out.push(flag.clone());
                out.push(other.to_string());
            }
        };
        match v {
            Value::Array(items) => items.iter().for_each(&mut push),
            v => push(v),
        }
    }
    out
}

/// The command with `{config_path}` replaced and args mode's flags appended, as the argv
/// the runner executes. Shell strings get the flags quoted in.
pub fn final_argv(
    command: &Command,
    shell: Option<&str>,
    config_path: Option<&str>,
    extra: &[String],
) -> Vec<String> {
    let sub = |w: &str| match config_path {
        Some(p) => w.replace("{config_path}", p),
        None => w.to_string(),
    };
    match command {
        Command::Argv(a) => a
            .iter()
            .map(|w| sub(w))
            .chain(extra.iter().cloned())
            .collect(),
        Command::Shell(s) => {
            let mut script = sub(s);
            for w in extra {
                script.push(' ');
                script.push_str(&crate::spec::sh_quote(w));
            }
            vec![shell.unwrap_or("/bin/sh").to_string(), "-c".into(), script]
        }
    }
}

/// Checkpoint extensions a pretrained model's spec value points at (TAO's rule: a model
/// fetched from NGC or the Hub is addressed by its first weights file, else its directory).
pub const WEIGHTS_EXTENSIONS: &[&str] = &[".pth.tar", ".pth", ".pt", ".ckpt", ".hdf5", ".tlt"];

/// Whether a file name is a checkpoint in the sense of [`WEIGHTS_EXTENSIONS`].
pub fn is_weights_file(name: &str) -> bool {
    WEIGHTS_EXTENSIONS.iter().any(|e| name.ends_with(e))
}

/// An archive the runner unpacks after download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archive {
    /// `.tar`.
    Tar,
    /// `.tgz` / `.tar.gz`.
    TarGz,
}

/// The archive kind of a file name, and the name without its extension.
pub fn archive_of(name: &str) -> Option<(Archive, &str)> {
    for (ext, kind) in [
        (".tar.gz", Archive::TarGz),
        (".tgz", Archive::TarGz),
        (".tar", Archive::Tar),
    ] {
        if let Some(stem) = name.strip_suffix(ext)
            && !stem.is_empty()
        {
            return Some((kind, stem));
        }
    }
    None
}

/// An archive member's path, if it stays inside the target directory: relative, no `..`.
/// Leading `./` is dropped.
pub fn safe_member_path(path: &str) -> Option<String> {
    if path.starts_with('/') || path.contains('\0') {
        return None;
    }
    let mut parts = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// fnmatch-style matching for upload excludes: `*` and `?` match any character (`/`
/// included, as Python's fnmatch does), `[abc]`/`[!abc]` a set. A pattern without `/` is
/// also tried against the file name alone, so `*.ckpt` excludes checkpoints at any depth.
pub fn exclude_matches(pattern: &str, rel_path: &str) -> bool {
    let name = rel_path.rsplit('/').next().unwrap_or(rel_path);
    glob(pattern.as_bytes(), rel_path.as_bytes())
        || (!pattern.contains('/') && glob(pattern.as_bytes(), name.as_bytes()))
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && glob(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(end) = p.iter().skip(1).position(|&c| c == b']').map(|i| i + 1) else {
                return s.first() == Some(&b'[') && glob(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let (neg, set) = match p[1..end].split_first() {
                Some((b'!', rest)) => (true, rest),
                _ => (false, &p[1..end]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != neg && glob(&p[end + 1..], &s[1..])
        }
        Some(&c) => s.first() == Some(&c) && glob(&p[1..], &s[1..]),
    }
}

/// Exit codes the runner uses when it, not the command, fails (sysexits.h names).
pub mod exit {
    /// An input could not be fetched (missing object, denied, unreachable).
    pub const INPUT: i32 = 66;
    /// The plan or spec cannot be carried out as written.
    pub const CONFIG: i32 = 78;
    /// The command could not be started.
    pub const EXEC: i32 = 126;
    /// The command succeeded but its outputs could not be uploaded.
    pub const UPLOAD: i32 = 74;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_paths_are_read_and_written() {
        let mut spec = json!({"dataset": {"train": [{"path": "s3://b/a"}, {"path": "x"}]}, "n": 1});
        let steps = parse_key_path("dataset.train[1].path").expect("path");
        assert_eq!(get_at(&spec, &steps), Some(&json!("x")));
        set_at(&mut spec, "dataset.train[0].path", json!("/in/a")).expect("set");
        set_at(&mut spec, "model.pretrained.path", json!("/ptm")).expect("creates maps");
        assert_eq!(spec["dataset"]["train"][0]["path"], "/in/a");
        assert_eq!(spec["model"]["pretrained"]["path"], "/ptm");
        let e = set_at(&mut spec, "dataset.train[5].path", json!(1)).expect_err("no index 5");
        assert!(e.message.contains("list of 2"), "{}", e.message);
        let e = set_at(&mut spec, "n.deeper", json!(1)).expect_err("through a scalar");
        assert!(e.message.contains("not a map"), "{}", e.message);
    }

    #[test]
    fn remote_values_are_found_at_any_depth() {
        let spec = json!({"a": {"b": "s3://bkt/x", "c": "local"}, "l": ["hf_model://o/m", 3]});
        assert_eq!(
            remote_values(&spec),
            vec![
                ("a.b".to_string(), "s3://bkt/x".to_string()),
                ("l[0]".to_string(), "hf_model://o/m".to_string())
            ]
        );
    }

    #[test]
    fn results_follow_the_tao_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let k = ResultsKind::from_env(env(&[
            ("TAO_RESULTS_ROOT", "/mnt/r/"),
            ("S3_BUCKET_NAME", "bkt"),
        ]));
        assert_eq!(k.local_dir("j"), "/mnt/r/j");
        assert_eq!(k.location("j"), "/mnt/r/j");
        let k = ResultsKind::from_env(env(&[("S3_BUCKET_NAME", "bkt")]));
        assert_eq!(k.location("j"), "s3://bkt/results/j/");
        assert_eq!(k.local_dir("j"), "/results/j");
        assert_eq!(
            ResultsKind::from_env(env(&[("TAO_RESULTS_ROOT", " ")])),
            ResultsKind::Ephemeral
        );
    }

    #[test]
    fn credentials_only_for_the_schemes_used() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(credential_env_names(&s(&["/data/x", "lustre:///a"]), false).is_empty());
        let n = credential_env_names(&s(&["hf_model://o/m"]), false);
        assert_eq!(n, vec!["HF_TOKEN", "HF_ENDPOINT"]);
        let n = credential_env_names(&s(&["s3://bkt/a", "s3://bkt/b"]), true);
        assert!(n.contains(&"SECRET_KEY") && !n.contains(&"HF_TOKEN"));
        assert_eq!(
            n.len(),
            n.iter().collect::<std::collections::BTreeSet<_>>().len()
        );
    }

    #[test]
    fn uris_parse() {
        assert_eq!(parse_s3("s3://bkt/a/b").ok(), Some(("bkt", "a/b")));
        assert_eq!(parse_s3("s3://bkt").ok(), Some(("bkt", "")));
        assert!(parse_s3("s3://b/x").is_err());
        let h = parse_hf("hf_dataset://org/set@v2").expect("hf");
        assert!(h.dataset && h.repo == "org/set" && h.revision == "v2");
        assert_eq!(parse_hf("hf_model://org/m").expect("hf").revision, "main");
        assert!(parse_hf("hf_model://org/../x").is_err());
        let n = parse_ngc("ngc://nvidia/tao/resnet:1.0").expect("ngc");
        assert_eq!(
            (
                n.org.as_str(),
                n.team.as_deref(),
                n.name.as_str(),
                n.version.as_str()
            ),
            ("nvidia", Some("tao"), "resnet", "1.0")
        );
        assert!(parse_ngc("ngc://nvidia/resnet").is_err());
        assert_eq!(local_path("lustre:///fs/a"), Some("/fs/a"));
        assert_eq!(local_path("s3://bkt/a"), None);
    }

    #[test]
    fn args_and_commands() {
        let mut args = BTreeMap::new();
        args.insert("epochs".to_string(), json!(3));
        args.insert("amp".to_string(), json!(true));
        args.insert("off".to_string(), json!(false));
        args.insert("data".to_string(), json!("/in/it's here"));
        let words = args_words(&args);
        assert_eq!(
            words,
            vec!["--amp", "--data", "/in/it's here", "--epochs", "3"]
        );
        let argv = final_argv(
            &Command::Argv(vec!["train".into(), "-c".into(), "{config_path}".into()]),
            None,
            Some("/r/spec.yaml"),
            &words,
        );
        assert_eq!(argv[2], "/r/spec.yaml");
        assert_eq!(argv[5], "/in/it's here", "argv words are never quoted");
        let sh = final_argv(
            &Command::Shell("train -c {config_path} && echo ok".into()),
            None,
            Some("/s"),
            &words,
        );
        assert_eq!(sh[0], "/bin/sh");
        assert!(
            sh[2].starts_with("train -c /s && echo ok --amp --data '/in/it'\"'\"'s here'"),
            "{}",
            sh[2]
        );
    }

    #[test]
    fn names_archives_members_and_excludes() {
        assert_eq!(
            key_dir_name("dataset.train[0].path"),
            "dataset_train_0_path"
        );
        assert_eq!(key_dir_name("/results/"), "results");
        assert_eq!(archive_of("data.tar.gz"), Some((Archive::TarGz, "data")));
        assert_eq!(archive_of("x.tgz"), Some((Archive::TarGz, "x")));
        assert_eq!(archive_of("x.tar"), Some((Archive::Tar, "x")));
        assert_eq!(archive_of(".tar"), None);
        assert_eq!(safe_member_path("./a/b"), Some("a/b".into()));
        for bad in ["../x", "a/../../x", "/etc/passwd", "a/.."] {
            assert_eq!(safe_member_path(bad), None, "{bad}");
        }
        assert!(exclude_matches("*.ckpt", "deep/dir/m.ckpt"));
        assert!(exclude_matches("logs/*", "logs/a/b.txt"));
        assert!(!exclude_matches("logs/*", "x/logs/a"));
        assert!(exclude_matches("f[0-9].txt", "f7.txt"));
        assert!(!exclude_matches("f[!0-9].txt", "f7.txt"));
        assert!(!exclude_matches("*.pth", "model.pt"));
    }
}
