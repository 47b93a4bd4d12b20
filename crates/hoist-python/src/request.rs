//! `run(command, **kwargs)` as a [`JobRequest`], built the way `hoist run` builds one from its
//! flags (same parsers, same messages), so Python refuses what the CLI refuses.

use crate::convert::{from_py, type_name};
use crate::errors::{input, refuse, to_py};
use hoist::core::settings::{SettingsMap, nearest};
use hoist::core::spec::{DataBinding, parse_env_arg, parse_memory};
use hoist::core::{Command, InputError};
use hoist::request::{parse_binding, parse_gpus};
use hoist::{Hoist, JobRequest};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Every keyword `run` and `dry_run` take.
const KNOWN: &[&str] = &[
    "platform",
    "image",
    "gpus",
    "nodes",
    "cpus",
    "memory",
    "env",
    "inputs",
    "outputs",
    "spec",
    "spec_format",
    "args",
    "mode",
    "name",
    "profile",
    "labels",
    "shell",
    "workdir",
    "upload_excludes",
    "parent",
    "secret_env",
    "platform_options",
];

/// The keyword arguments of one call, read with TypeErrors that name the argument.
struct Kw<'a, 'py> {
    verb: &'static str,
    dict: Option<&'a Bound<'py, PyDict>>,
}

impl<'py> Kw<'_, 'py> {
    /// The value given for `key`; `None` when absent or None.
    fn get(&self, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.dict {
            Some(d) => Ok(d.get_item(key)?.filter(|v| !v.is_none())),
            None => Ok(None),
        }
    }

    fn wrong(&self, key: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
        PyTypeError::new_err(format!(
            "{}() argument '{key}' must be {expected}, not {}",
            self.verb,
            type_name(got)
        ))
    }

    fn string(&self, key: &str) -> PyResult<Option<String>> {
        let Some(v) = self.get(key)? else {
            return Ok(None);
        };
        match v.cast::<PyString>() {
            Ok(s) => Ok(Some(s.to_str()?.to_string())),
            Err(_) => Err(self.wrong(key, "str", &v)),
        }
    }

    fn strings(&self, key: &str) -> PyResult<Vec<String>> {
        let Some(v) = self.get(key)? else {
            return Ok(vec![]);
        };
        strings_of(&v).ok_or_else(|| self.wrong(key, "a list of str", &v))
    }

    /// A `dict[str, str]`.
    fn str_map(&self, key: &str) -> PyResult<BTreeMap<String, String>> {
        let Some(v) = self.get(key)? else {
            return Ok(BTreeMap::new());
        };
        v.extract::<BTreeMap<String, String>>().map_err(|_| {
            if v.is_instance_of::<PyDict>() {
                PyTypeError::new_err(format!(
                    "{}() argument '{key}' must map str to str",
                    self.verb
                ))
            } else {
                self.wrong(key, "a dict of str to str", &v)
            }
        })
    }

    /// A `dict[str, str | None]` in order, or a list of the CLI's strings (`"K=V"`, `"K"`)
    /// read by `parse`.
    fn pairs(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<(String, Option<String>), InputError>,
    ) -> PyResult<Vec<(String, Option<String>)>> {
        let Some(v) = self.get(key)? else {
            return Ok(vec![]);
        };
        if let Ok(d) = v.cast::<PyDict>() {
            let mut out = Vec::new();
            for (k, val) in d.iter() {
                let Ok(name) = k.extract::<String>() else {
                    return Err(self.wrong(key, "a dict with str keys", &k));
                };
                if !(val.is_none() || val.is_instance_of::<PyString>()) {
                    return Err(PyTypeError::new_err(format!(
                        "{}() argument '{key}' must map str to str or None; {name:?} maps to {}",
                        self.verb,
                        type_name(&val)
                    )));
                }
                out.push((name, val.extract::<Option<String>>()?));
            }
            return Ok(out);
        }
        let Some(items) = strings_of(&v) else {
            return Err(self.wrong(key, "a dict of str to str, or a list of str", &v));
        };
        items
            .iter()
            .map(|s| parse(s).map_err(|e| input(&e)))
            .collect()
    }
}

/// A list or tuple of str.
fn strings_of(v: &Bound<'_, PyAny>) -> Option<Vec<String>> {
    if !(v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>()) {
        return None;
    }
    v.extract::<Vec<String>>().ok()
}

/// The request `command` and `kwargs` describe; `verb` names the call in TypeErrors.
pub fn build(
    h: &Hoist,
    command: &Bound<'_, PyAny>,
    kwargs: Option<&Bound<'_, PyDict>>,
    verb: &'static str,
) -> PyResult<JobRequest> {
    crate::usable()?;
    if let Some(d) = kwargs {
        for k in d.keys() {
            let k = k.extract::<String>().unwrap_or_default();
            if !KNOWN.contains(&k.as_str()) {
                return Err(PyTypeError::new_err(format!(
                    "{verb}() got an unexpected keyword argument '{k}'"
                )));
            }
        }
    }
    let kw = Kw { verb, dict: kwargs };
    let mut req = JobRequest::new(command_of(command, verb)?);
    req.platform = kw.string("platform")?;
    req.image = kw.string("image")?;
    req.name = kw.string("name")?;
    req.profile = kw.string("profile")?;
    req.shell = kw.string("shell")?;
    req.workdir = kw.string("workdir")?;
    if let Some(g) = kw.get("gpus")? {
        let text = if g.is_instance_of::<pyo3::types::PyBool>() {
            return Err(kw.wrong("gpus", "int or str", &g));
        } else if let Ok(n) = g.extract::<i64>() {
            n.to_string()
        } else if let Ok(s) = g.cast::<PyString>() {
            s.to_str()?.to_string()
        } else {
            return Err(kw.wrong("gpus", "int or str", &g));
        };
        let (count, model) = parse_gpus(&text).map_err(|e| input(&e))?;
        req.gpus = Some(count);
        req.gpu_type = model;
    }
    if let Some(n) = kw.get("nodes")? {
        let Ok(n) = n.extract::<i64>() else {
            return Err(kw.wrong("nodes", "int", &n));
        };
        req.nodes = Some(u32::try_from(n).map_err(|_| {
            refuse(
                format!("nodes={n} is not a number of nodes"),
                "give nodes=1 or more",
            )
        })?);
    }
    if let Some(c) = kw.get("cpus")? {
        req.cpus = Some(
            c.extract::<f64>()
                .map_err(|_| kw.wrong("cpus", "float", &c))?,
        );
    }
    if let Some(m) = kw.get("memory")? {
        req.memory_bytes = Some(if let Ok(n) = m.extract::<u64>() {
            n
        } else if let Ok(s) = m.cast::<PyString>() {
            parse_memory(s.to_str()?).map_err(|e| input(&e))?
        } else {
            return Err(kw.wrong("memory", "int (bytes) or str such as \"16g\"", &m));
        });
    }
    req.env = kw.pairs("env", parse_env_arg)?;
    for (name, _) in &req.env {
        env_name(name).map_err(|e| input(&e))?;
    }
    req.labels = kw.str_map("labels")?;
    req.inputs = bindings(&kw, "inputs", "--input", true)?;
    req.outputs = bindings(&kw, "outputs", "--output", false)?;
    if let Some(s) = kw.get("spec")? {
        if let Ok(path) = s.cast::<PyString>() {
            let (spec, fmt) = hoist::load_spec(Path::new(path.to_str()?)).map_err(|e| to_py(&e))?;
            req.spec = Some(spec);
            req.spec_format = Some(fmt);
        } else if s.is_instance_of::<PyDict>() {
            req.spec = Some(from_py(&s, "spec")?);
        } else {
            return Err(kw.wrong("spec", "a dict or the path of a spec file", &s));
        }
    }
    if let Some(f) = kw.string("spec_format")? {
        req.spec_format = Some(f.parse().map_err(|e| input(&e))?);
    }
    if let Some(a) = kw.get("args")? {
        let Value::Object(m) = from_py(&a, "args")? else {
            return Err(kw.wrong("args", "a dict", &a));
        };
        for (k, v) in m {
            req.args.insert(k.trim_start_matches('-').to_string(), v);
        }
    }
    if let Some(m) = kw.string("mode")? {
        req.mode = Some(m.parse().map_err(|e| input(&e))?);
    }
    req.upload_excludes = kw.strings("upload_excludes")?;
    req.secret_env = kw.strings("secret_env")?;
    if let Some(p) = kw.string("parent")? {
        req.parent_job_id = Some(h.resolve(&p).map_err(|e| to_py(&e))?.job_id);
    }
    if let Some(o) = kw.get("platform_options")? {
        let Value::Object(opts) = from_py(&o, "platform_options")? else {
            return Err(kw.wrong("platform_options", "a dict", &o));
        };
        req.platform_options = by_platform(h, req.platform.as_deref(), opts)?;
    }
    Ok(req)
}

/// A list of words runs as they are (argv); a string runs in a shell.
fn command_of(command: &Bound<'_, PyAny>, verb: &str) -> PyResult<Command> {
    let none = || Command::from_cli(vec![]).map_err(|e| input(&e));
    if let Ok(s) = command.cast::<PyString>() {
        let s = s.to_str()?;
        if s.trim().is_empty() {
            return none();
        }
        return Ok(Command::Shell(s.to_string()));
    }
    match strings_of(command) {
        Some(words) if words.iter().all(|w| w.trim().is_empty()) => none(),
        Some(words) => Ok(Command::Argv(words)),
        None => Err(PyTypeError::new_err(format!(
            "{verb}() argument 'command' must be a list of str or a str, not {}",
            type_name(command)
        ))),
    }
}

/// `{"KEY": "URI"}` or the CLI's `"KEY=URI"` strings (outputs: a bare `"KEY"` too), checked
/// as `--input` / `--output` are.
fn bindings(
    kw: &Kw<'_, '_>,
    key: &str,
    flag: &str,
    uri_required: bool,
) -> PyResult<Vec<DataBinding>> {
    let parse = |text: &str| parse_binding(flag, text, uri_required).map(|b| (b.key, Some(b.uri)));
    let mut out = Vec::new();
    for (k, uri) in kw.pairs(key, parse)? {
        let uri = uri.unwrap_or_default();
        if k.is_empty() || (uri_required && uri.is_empty()) {
            // The CLI's own refusal of the same binding.
            parse_binding(flag, &format!("{k}={uri}"), uri_required).map_err(|e| input(&e))?;
        }
        out.push(DataBinding { key: k, uri });
    }
    Ok(out)
}

/// Platform settings given as one flat dict, grouped as the CLI's flags are: each key under
/// the job's platform when that platform has it, else under the platform that declares it
/// (the library moves a shared one over, and refuses another platform's with a message that
/// names it). A key no platform has is refused here, naming it.
fn by_platform(
    h: &Hoist,
    platform: Option<&str>,
    opts: SettingsMap,
) -> PyResult<BTreeMap<String, SettingsMap>> {
    let chosen = platform
        .map(|p| h.canonical(p))
        .transpose()
        .map_err(|e| input(&e))?;
    let infos = hoist::platform_infos();
    let has = |name: &str, key: &str| {
        infos
            .iter()
            .any(|i| i.name == name && i.settings.iter().any(|s| s.key == key))
    };
    let mut out: BTreeMap<String, SettingsMap> = BTreeMap::new();
    for (k, v) in opts {
        let owner = chosen.filter(|c| has(c, &k)).or_else(|| {
            infos
                .iter()
                .find(|i| i.settings.iter().any(|s| s.key == k))
                .map(|i| i.name)
        });
        let owner = match (owner, chosen) {
            (Some(o), _) => o,
            // The platform's own check names the nearest of its settings.
            (None, Some(c)) => c,
            (None, None) => {
                let all = infos.iter().flat_map(|i| i.settings.iter().map(|s| s.key));
                let near = nearest(&k, all)
                    .map(|n| format!("; did you mean {n:?}?"))
                    .unwrap_or_default();
                return Err(refuse(
                    format!("unknown platform option {k:?}{near}"),
                    "hoist platforms lists every platform's settings (the keys platform_options takes)",
                ));
            }
        };
        out.entry(owner.to_string()).or_default().insert(k, v);
    }
    Ok(out)
}

/// Check a name given as a dict key as the command line checks `--env NAME`, so both refuse a
/// bad one in the same words (the value stays out of the message: it may be a secret).
fn env_name(name: &str) -> Result<(), InputError> {
    match parse_env_arg(name) {
        Ok((parsed, None)) if parsed == name => Ok(()),
        // `NAME=…` in a key: the parser would split it; the name as given is what is wrong.
        Ok(_) => {
            let why = hoist::core::command::validate_env_name(name)
                .err()
                .map(|e| e.message)
                .unwrap_or_default();
            let hint = parse_env_arg("=").err().map(|e| e.hint).unwrap_or_default();
            Err(InputError::new(
                format!("malformed --env {name:?}: {why}"),
                hint,
            ))
        }
        Err(e) => Err(e),
    }
}
