//! The wire side: responses in the API's shapes (v1 `Status` refusals), query strings,
//! label selectors, and JSON merge patches.

use super::Res;
use http::{Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn respond(code: u16, content_type: &str, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("a response from valid parts")
}

pub(super) fn json_response(code: u16, v: &Value) -> Response<Body> {
    respond(
        code,
        "application/json",
        serde_json::to_vec(v).expect("json"),
    )
}

/// A v1 Status refusal, as the API server writes it.
pub(super) fn failure(code: u16, reason: &str, message: &str) -> Response<Body> {
    failure_with(code, reason, message, None)
}

pub(super) fn failure_with(
    code: u16,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Response<Body> {
    let mut v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    if let Some(d) = details {
        v["details"] = d;
    }
    json_response(code, &v)
}

pub(super) fn not_found(res: Res, name: &str) -> Response<Body> {
    failure_with(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", res.qualified()),
        Some(json!({"name": name, "group": res.group(), "kind": res.plural()})),
    )
}

pub(super) fn namespace_not_found(ns: &str) -> Response<Body> {
    failure_with(
        404,
        "NotFound",
        &format!("namespaces \"{ns}\" not found"),
        Some(json!({"name": ns, "kind": "namespaces"})),
    )
}

pub(super) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn query(uri: &http::Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// One requirement of a label selector: `k=v`, `k==v`, `k!=v`, `k`, `!k`.
pub(super) enum Req {
    Eq(String, String),
    Ne(String, String),
    Exists(String),
    Absent(String),
}

pub(super) fn parse_selector(sel: &str) -> Result<Vec<Req>, String> {
    sel.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t.contains(" in ") || t.contains(" notin ") || t.contains('(') {
                return Err(format!(
                    "set-based requirement {t:?} is not served by this fake"
                ));
            }
            Ok(if let Some((k, v)) = t.split_once("!=") {
                Req::Ne(k.into(), v.into())
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                Req::Eq(k.into(), v.into())
            } else if let Some(k) = t.strip_prefix('!') {
                Req::Absent(k.into())
            } else {
                Req::Exists(t.into())
            })
        })
        .collect()
}

pub(super) fn matches(reqs: &[Req], obj: &Value) -> bool {
    let labels = obj["metadata"]["labels"].as_object();
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    reqs.iter().all(|r| match r {
        Req::Eq(k, v) => get(k) == Some(v.as_str()),
        Req::Ne(k, v) => get(k) != Some(v.as_str()),
        Req::Exists(k) => get(k).is_some(),
        Req::Absent(k) => get(k).is_none(),
    })
}

/// RFC 7386 JSON merge patch.
pub(super) fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("an object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// List items carry no apiVersion/kind of their own.
pub(super) fn strip_type(o: &Value) -> Value {
    let mut o = o.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    o
}
