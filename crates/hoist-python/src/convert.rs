//! Between Python objects and JSON: records leave as plain dicts (the CLI's `--json` fields),
//! specs, args and platform options arrive as JSON-like values.

use hoist::core::{JobRecord, JobSummary};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::Serialize;
use serde_json::{Map, Value};

/// A JSON value as the Python object `json.loads` would give.
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for i in items {
                list.append(to_py(py, i)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let d = PyDict::new(py);
            for (k, v) in map {
                d.set_item(k, to_py(py, v)?)?;
            }
            d.into_any()
        }
    })
}

/// Anything serde can write, as a Python object.
pub fn ser_to_py<'py, T: Serialize>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    let v = serde_json::to_value(v)
        .map_err(|e| PyValueError::new_err(format!("cannot convert a hoist value: {e}")))?;
    to_py(py, &v)
}

/// A JSON-like Python value (None, bool, int, float, str, list/tuple, dict with str keys) as
/// JSON; `what` names the argument in the TypeError for anything else.
pub fn from_py(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: True is an int in Python.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyValueError::new_err(format!(
            "{what}: the integer {obj} is too large"
        )));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let x = f.value();
        return serde_json::Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "{what}: {x} is not a finite number (JSON has none)"
                ))
            });
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_string()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut m = Map::new();
        for (k, v) in d.iter() {
            let key = k.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!("{what}: keys must be str, got {}", type_name(&k)))
            })?;
            m.insert(key.to_str()?.to_string(), from_py(&v, what)?);
        }
        return Ok(Value::Object(m));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for item in obj.try_iter()? {
            out.push(from_py(&item?, what)?);
        }
        return Ok(Value::Array(out));
    }
    Err(PyTypeError::new_err(format!(
        "{what}: {} is not JSON-like (None, bool, int, float, str, list or dict)",
        type_name(obj)
    )))
}

/// The object's type name, for messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// A job record as Python reads it: the fields `hoist status --json` prints (the same
/// serialization, so the CLI and Python agree), plus the lineage and image from the record.
pub fn job_value(j: &JobRecord) -> Value {
    let mut v = serde_json::to_value(JobSummary::from(j)).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("parent_job_id".into(), j.parent_job_id.clone().into());
        m.insert("workflow_id".into(), j.workflow_id.clone().into());
        m.insert("image".into(), j.spec.image.clone().into());
        m.insert("cancel_requested".into(), j.cancel_requested.into());
        m.insert(
            "labels".into(),
            serde_json::to_value(&j.spec.labels).unwrap_or_default(),
        );
    }
    v
}

/// [`job_value`] as a Python dict.
pub fn job_dict<'py>(py: Python<'py>, j: &JobRecord) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, &job_value(j))
}
