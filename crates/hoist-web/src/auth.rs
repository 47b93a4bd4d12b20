//! The access token on every request, the cookie that lets links work after a `?token=`
//! load, the CSRF token of state-changing requests, and the headers that keep pages inert.

use crate::Ui;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// The secrets of this server process.
pub struct Keys {
    token: String,
    /// Derived from the token and a per-process random, so a CSRF token seen once is worth
    /// nothing after a restart and reveals nothing of the access token.
    csrf: String,
    /// Per port: cookies ignore ports, and two dashboards on one host must not share one.
    cookie: String,
}

impl Keys {
    pub fn new(token: &str, port: u16) -> Keys {
        let mut d = Sha256::new();
        d.update(uuid::Uuid::new_v4().as_bytes());
        d.update(uuid::Uuid::new_v4().as_bytes());
        d.update(token.as_bytes());
        let csrf = d
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Keys {
            token: token.to_string(),
            csrf,
            cookie: format!("hoist_ui_{port}"),
        }
    }

    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    pub fn csrf_ok(&self, given: &str) -> bool {
        same(given.as_bytes(), self.csrf.as_bytes())
    }
}

/// Compare without stopping at the first differing byte, so timing tells nothing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How a request proved it holds the token.
#[derive(PartialEq)]
enum Proof {
    None,
    Header,
    Query,
    Cookie,
}

fn proof(keys: &Keys, req: &Request) -> Proof {
    let want = keys.token.as_bytes();
    let headers = req.headers();
    if let Some(b) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        && same(b.trim().as_bytes(), want)
    {
        return Proof::Header;
    }
    if let Ok(Query(q)) = Query::<HashMap<String, String>>::try_from_uri(req.uri())
        && q.get("token").is_some_and(|t| same(t.as_bytes(), want))
    {
        return Proof::Query;
    }
    if cookie(headers, &keys.cookie).is_some_and(|t| same(t.as_bytes(), want)) {
        return Proof::Cookie;
    }
    Proof::None
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Every route: 401 without the token; security headers on every answer; the cookie after
/// a `?token=` load; the CSRF token in a header, for API clients that will POST.
pub async fn require(State(ui): State<Arc<Ui>>, req: Request, next: Next) -> Response {
    let how = proof(&ui.auth, &req);
    let mut resp = if how == Proof::None {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "401: this hoist ui needs its access token: open the URL `hoist ui` printed (it ends in ?token=…), \
             or send `Authorization: Bearer TOKEN`\n",
        )
            .into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // The token may be in the address bar: never send it on to another site.
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (k, v) in fixed {
        h.insert(k, HeaderValue::from_static(v));
    }
    if how != Proof::None
        && let Ok(v) = HeaderValue::from_str(&ui.auth.csrf)
    {
        h.insert("x-csrf-token", v);
    }
    if how == Proof::Query
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            ui.auth.cookie, ui.auth.token
        ))
    {
        h.append(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_needs_every_byte() {
        assert!(same(b"abcdef", b"abcdef"));
        assert!(!same(b"abcdef", b"abcdeg"));
        assert!(!same(b"abc", b"abcdef"));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hoist_ui_80=tok; hoist_ui_8=x"),
        );
        assert_eq!(cookie(&h, "hoist_ui_80"), Some("tok"));
        assert_eq!(cookie(&h, "hoist_ui_8"), Some("x"));
        assert_eq!(cookie(&h, "hoist_ui"), None);
    }

    #[test]
    fn csrf_differs_per_process() {
        let (a, b) = (Keys::new("tok12345", 1), Keys::new("tok12345", 1));
        assert_ne!(a.csrf(), b.csrf());
        assert!(a.csrf_ok(a.csrf()) && !a.csrf_ok(b.csrf()));
    }
}
