//! Addressing values inside a config-mode spec by dotted path (`dataset.train[0].path`):
//! reading, rewriting to the fetched location, and finding the remote URIs to fetch.

use super::Scheme;
use crate::spec::{InputError, KeyStep, parse_key_path};
use serde_json::Value;

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
}
