//! A small in-memory Kubernetes API server, as the `tower::Service` a `kube::Client` sends its
//! requests through. It keeps Jobs, Pods, Secrets and Services per namespace and answers in the
//! real API's shapes: 201 on create, a v1 `Status` body with the real reason and code on
//! refusals, `metadata.uid`/`resourceVersion` on every object, label selectors on lists,
//! owner-reference garbage collection on delete.
//!
//! It stands in for the Job controller, the scheduler and the kubelet too: a created Job
//! "runs" at once. Its pods land on the first node whose labels satisfy their node selector
//! and required node affinity and whose allocatable `nvidia.com/gpu` covers their limit; a
//! pod no node admits stays Pending, Unschedulable, with the scheduler's message. A scheduled
//! pod's outcome comes from the container command (`sh -c TEXT`): `echo WORDS` prints the
//! words, `exit N` ends with N, `sleep N` keeps the pod Running until it is deleted, `true`,
//! `false` and `:` do what they do, anything else is "not found" (127). Statements are split
//! on `;` and newlines; no quoting beyond stripping quotes around words, no pipes, no `&&`.
//! A deleted pod whose container runs stops after [`POD_GRACE`]; every other deletion the
//! garbage collector does happens at the next request. Not modelled: watches (refused with
//! 400), strategic-merge and JSON patches (415), Job retries (a failed pod fails the Job, as
//! with hoist's `backoffLimit: 0`). Secrets are admitted as the API server admits them:
//! `stringData` folded into `data`, a `kubernetes.io/dockerconfigjson` one refused unless its
//! `.dockerconfigjson` is JSON. Listing nodes can be forbidden ([`FakeApi::forbid_nodes`]),
//! as namespaced RBAC does.

mod schedule;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, Namespace,
    NamespaceSpec, NamespaceStatus, Node, NodeStatus, Pod, PodCondition, PodStatus, Secret,
    Service,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How long a deleted pod whose container runs takes to stop (30 s on a real cluster).
pub const POD_GRACE: Duration = Duration::from_millis(300);

/// The namespaced resources the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Res {
    /// batch/v1 jobs.
    Jobs,
    /// v1 pods (created by the fake's Job controller only).
    Pods,
    /// v1 secrets.
    Secrets,
    /// v1 services.
    Services,
}

impl Res {
    fn parse(group: &str, plural: &str) -> Option<Res> {
        match (group, plural) {
            ("batch", "jobs") => Some(Res::Jobs),
            ("", "pods") => Some(Res::Pods),
            ("", "secrets") => Some(Res::Secrets),
            ("", "services") => Some(Res::Services),
            _ => None,
        }
    }
    fn plural(self) -> &'static str {
        match self {
            Res::Jobs => "jobs",
            Res::Pods => "pods",
            Res::Secrets => "secrets",
            Res::Services => "services",
        }
    }
    fn group(self) -> &'static str {
        match self {
            Res::Jobs => "batch",
            _ => "",
        }
    }
    /// `jobs.batch`, `secrets`: how the API names the resource in its messages.
    fn qualified(self) -> String {
        match self.group() {
            "" => self.plural().to_string(),
            g => format!("{}.{g}", self.plural()),
        }
    }
    fn list_kind(self) -> (&'static str, &'static str) {
        match self {
            Res::Jobs => ("batch/v1", "JobList"),
            Res::Pods => ("v1", "PodList"),
            Res::Secrets => ("v1", "SecretList"),
            Res::Services => ("v1", "ServiceList"),
        }
    }
}

type Key = (Res, String, String);

struct State {
    rv: u64,
    serial: u64,
    namespaces: BTreeMap<String, Value>,
    nodes: Vec<Value>,
    objects: BTreeMap<Key, Value>,
    /// (namespace, pod) → the `job` container's output.
    logs: BTreeMap<(String, String), String>,
    /// Every request as `METHOD path?query`.
    seen: Vec<String>,
    /// Deleted pods still running, and when their grace period ends.
    stopping: BTreeMap<Key, Instant>,
    /// Listing nodes answers 403, as for a user with rights in a namespace only.
    nodes_forbidden: bool,
}

/// The fake API server; clones share one cluster.
#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

/// The kube-system namespace's uid, which the platform's identity carries.
pub const KUBE_SYSTEM_UID: &str = "3f6a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";

fn now() -> Time {
    Time(jiff::Timestamp::now())
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("k8s-openapi objects serialize")
}

impl Default for FakeApi {
    fn default() -> Self {
        Self::new()
    }
}

/// A node of the fake cluster: its name, allocatable `nvidia.com/gpu` and labels (besides the
/// `kubernetes.io/*` ones every node has).
pub struct NodeSpec<'a> {
    /// Name.
    pub name: &'a str,
    /// Allocatable GPUs (0: none advertised).
    pub gpus: u32,
    /// Labels.
    pub labels: &'a [(&'a str, &'a str)],
}

impl FakeApi {
    /// A cluster with namespaces `default` and `kube-system`, a GPU node and a CPU node.
    pub fn new() -> FakeApi {
        FakeApi::with_nodes(&[
            NodeSpec {
                name: "gpu-node-a",
                gpus: 8,
                labels: &[],
            },
            NodeSpec {
                name: "cpu-node-b",
                gpus: 0,
                labels: &[],
            },
        ])
    }

    /// A cluster with namespaces `default` and `kube-system` and these nodes, in this order.
    pub fn with_nodes(nodes: &[NodeSpec<'_>]) -> FakeApi {
        let mut s = State {
            rv: 1000,
            serial: 0,
            namespaces: BTreeMap::new(),
            nodes: Vec::new(),
            objects: BTreeMap::new(),
            logs: BTreeMap::new(),
            seen: Vec::new(),
            stopping: BTreeMap::new(),
            nodes_forbidden: false,
        };
        for (name, uid) in [
            (
                "default",
                "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a".to_string(),
            ),
            ("kube-system", KUBE_SYSTEM_UID.to_string()),
        ] {
            let meta = s.new_meta(name, None, Some(uid));
            s.namespaces.insert(
                name.to_string(),
                to_value(&Namespace {
                    metadata: meta,
                    spec: Some(NamespaceSpec {
                        finalizers: Some(vec!["kubernetes".into()]),
                    }),
                    status: Some(NamespaceStatus {
                        phase: Some("Active".into()),
                        ..Default::default()
                    }),
                }),
            );
        }
        for n in nodes {
            let mut alloc = BTreeMap::from([
                ("cpu".to_string(), Quantity("32".into())),
                ("memory".to_string(), Quantity("257433088Ki".into())),
                ("pods".to_string(), Quantity("110".into())),
            ]);
            if n.gpus > 0 {
                alloc.insert("nvidia.com/gpu".into(), Quantity(n.gpus.to_string()));
            }
            let mut meta = s.new_meta(n.name, None, None);
            let mut labels = BTreeMap::from([
                ("kubernetes.io/arch".to_string(), "amd64".to_string()),
                ("kubernetes.io/hostname".to_string(), n.name.to_string()),
                ("kubernetes.io/os".to_string(), "linux".to_string()),
            ]);
            labels.extend(n.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            meta.labels = Some(labels);
            s.nodes.push(to_value(&Node {
                metadata: meta,
                spec: None,
                status: Some(NodeStatus {
                    capacity: Some(alloc.clone()),
                    allocatable: Some(alloc),
                    ..Default::default()
                }),
            }));
        }
        FakeApi {
            state: Arc::new(Mutex::new(s)),
        }
    }

    /// From now on, listing nodes is forbidden (403), as for a user whose rights end at the
    /// namespace.
    #[allow(dead_code)] // not every test crate that includes the fake forbids
    pub fn forbid_nodes(&self) {
        self.lock().nodes_forbidden = true;
    }

    /// The stored object, as the API would return it.
    #[allow(dead_code)] // not every test crate that includes the fake reads objects
    pub fn object(&self, res: Res, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&(res, namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Replace a stored pod's `status`, as the scheduler or the kubelet would write it (a
    /// taint the fake does not model, an image pull backing off).
    #[allow(dead_code)] // not every test crate that includes the fake rewrites pods
    pub fn set_pod_status(&self, namespace: &str, name: &str, status: Value) {
        let mut s = self.lock();
        s.rv += 1;
        let rv = s.rv.to_string();
        if let Some(p) = s
            .objects
            .get_mut(&(Res::Pods, namespace.to_string(), name.to_string()))
        {
            p["status"] = status;
            p["metadata"]["resourceVersion"] = Value::String(rv);
        }
    }

    /// Every request served so far, as `METHOD path?query`.
    #[allow(dead_code)] // not every test crate that includes the fake reads requests
    pub fn requests(&self) -> Vec<String> {
        self.lock().seen.clone()
    }

    /// The names of the stored objects of `res` in `namespace`.
    pub fn names(&self, res: Res, namespace: &str) -> Vec<String> {
        self.lock()
            .objects
            .keys()
            .filter(|(r, ns, _)| *r == res && ns == namespace)
            .map(|(_, _, n)| n.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl tower_service::Service<Request<Body>> for FakeApi {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let api = self.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match body.collect_bytes().await {
                Ok(b) => b.to_vec(),
                Err(e) => {
                    return Ok(failure(400, "BadRequest", &format!("unreadable body: {e}")));
                }
            };
            let mut s = api.lock();
            s.seen.push(format!(
                "{} {}",
                parts.method,
                parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("")
            ));
            s.collect_garbage();
            Ok(s.handle(&parts, &body))
        })
    }
}

fn respond(code: u16, content_type: &str, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("a response from valid parts")
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    respond(
        code,
        "application/json",
        serde_json::to_vec(v).expect("json"),
    )
}

/// A v1 Status refusal, as the API server writes it.
fn failure(code: u16, reason: &str, message: &str) -> Response<Body> {
    failure_with(code, reason, message, None)
}

fn failure_with(code: u16, reason: &str, message: &str, details: Option<Value>) -> Response<Body> {
    let mut v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    if let Some(d) = details {
        v["details"] = d;
    }
    json_response(code, &v)
}

fn not_found(res: Res, name: &str) -> Response<Body> {
    failure_with(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", res.qualified()),
        Some(json!({"name": name, "group": res.group(), "kind": res.plural()})),
    )
}

fn namespace_not_found(ns: &str) -> Response<Body> {
    failure_with(
        404,
        "NotFound",
        &format!("namespaces \"{ns}\" not found"),
        Some(json!({"name": ns, "kind": "namespaces"})),
    )
}

fn percent_decode(s: &str) -> String {
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

fn query(uri: &http::Uri) -> BTreeMap<String, String> {
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
enum Req {
    Eq(String, String),
    Ne(String, String),
    Exists(String),
    Absent(String),
}

fn parse_selector(sel: &str) -> Result<Vec<Req>, String> {
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

fn matches(reqs: &[Req], obj: &Value) -> bool {
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
fn merge(target: &mut Value, patch: &Value) {
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

/// What a container's command does, as far as the fake understands shell.
enum Outcome {
    Exited(i32, String),
    Runs(String),
}

fn simulate(argv: &[String]) -> Outcome {
    let script = match argv {
        [sh, c, text, ..]
            if matches!(sh.as_str(), "sh" | "bash" | "/bin/sh" | "/bin/bash") && c == "-c" =>
        {
            text.clone()
        }
        words => words.join(" "),
    };
    let mut out = String::new();
    let mut code = 0;
    for stmt in script.split([';', '\n']).map(str::trim) {
        let words: Vec<&str> = stmt
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
            .collect();
        match words.as_slice() {
            [] => continue,
            ["echo", rest @ ..] => {
                out.push_str(&rest.join(" "));
                out.push('\n');
                code = 0;
            }
            ["exit"] => return Outcome::Exited(code, out),
            ["exit", n, ..] => return Outcome::Exited(n.parse().unwrap_or(2), out),
            ["sleep", ..] => return Outcome::Runs(out),
            ["true"] | [":"] => code = 0,
            ["false"] => code = 1,
            [cmd, ..] => {
                out.push_str(&format!("sh: {cmd}: not found\n"));
                code = 127;
            }
        }
    }
    Outcome::Exited(code, out)
}

impl State {
    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    fn next_uid(&mut self) -> String {
        self.serial += 1;
        format!(
            "7c0f{:04x}-1e2d-4c3b-8a59-{:012x}",
            self.serial, self.serial
        )
    }

    /// Five characters from the alphabet the API server's generateName uses.
    fn suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        self.serial += 1;
        let mut n = self.serial.wrapping_mul(2_654_435_761);
        (0..5)
            .map(|_| {
                let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
                n /= ALPHABET.len() as u64;
                c
            })
            .collect()
    }

    fn new_meta(&mut self, name: &str, ns: Option<&str>, uid: Option<String>) -> ObjectMeta {
        let uid = uid.unwrap_or_else(|| self.next_uid());
        ObjectMeta {
            name: Some(name.into()),
            namespace: ns.map(str::to_string),
            uid: Some(uid),
            resource_version: Some(self.next_rv()),
            creation_timestamp: Some(now()),
            ..Default::default()
        }
    }

    fn handle(&mut self, parts: &http::request::Parts, body: &[u8]) -> Response<Body> {
        let q = query(&parts.uri);
        let segs: Vec<&str> = parts.uri.path().split('/').skip(1).collect();
        let (group, rest) = match segs.as_slice() {
            ["api", "v1", rest @ ..] => ("", rest),
            ["apis", "batch", "v1", rest @ ..] => ("batch", rest),
            _ => {
                return failure(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                );
            }
        };
        let m = &parts.method;
        if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
            return failure(
                400,
                "BadRequest",
                "this fake API server does not serve watches",
            );
        }
        match (group, rest) {
            ("", ["namespaces", ns]) if m == Method::GET => match self.namespaces.get(*ns) {
                Some(n) => json_response(200, n),
                None => namespace_not_found(ns),
            },
            ("", ["nodes"]) if m == Method::GET && self.nodes_forbidden => failure_with(
                403,
                "Forbidden",
                "nodes is forbidden: User \"system:serviceaccount:default:hoist\" cannot list resource \"nodes\" in API group \"\" at the cluster scope",
                Some(json!({"kind": "nodes"})),
            ),
            ("", ["nodes"]) if m == Method::GET => json_response(
                200,
                &json!({"kind": "NodeList", "apiVersion": "v1",
                    "metadata": {"resourceVersion": self.rv.to_string()},
                    "items": self.nodes.iter().map(strip_type).collect::<Vec<_>>()}),
            ),
            (g, ["namespaces", ns, plural, rest @ ..]) => {
                let Some(res) = Res::parse(g, plural) else {
                    return failure(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    );
                };
                match (rest, m) {
                    ([], &Method::GET) => self.list(res, ns, &q),
                    ([], &Method::POST) if res != Res::Pods => self.create(res, ns, body),
                    ([name], &Method::GET) => {
                        match self.objects.get(&(res, ns.to_string(), name.to_string())) {
                            Some(o) => json_response(200, o),
                            None => not_found(res, name),
                        }
                    }
                    ([name], &Method::DELETE) => self.delete(res, ns, name, body),
                    ([name], &Method::PATCH) => {
                        let ct = parts
                            .headers
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        self.patch(res, ns, name, ct, body)
                    }
                    ([name, "log"], &Method::GET) if res == Res::Pods => self.log(ns, name, &q),
                    _ => failure(
                        405,
                        "MethodNotAllowed",
                        &format!(
                            "the server does not allow this method on the requested resource ({m} {})",
                            parts.uri.path()
                        ),
                    ),
                }
            }
            _ => failure(
                405,
                "MethodNotAllowed",
                &format!(
                    "the server does not allow this method on the requested resource ({m} {})",
                    parts.uri.path()
                ),
            ),
        }
    }

    fn list(&self, res: Res, ns: &str, q: &BTreeMap<String, String>) -> Response<Body> {
        let reqs = match parse_selector(q.get("labelSelector").map(String::as_str).unwrap_or("")) {
            Ok(r) => r,
            Err(e) => {
                return failure(
                    400,
                    "BadRequest",
                    &format!("unable to parse requirement: {e}"),
                );
            }
        };
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((r, n, _), o)| *r == res && n == ns && matches(&reqs, o))
            .map(|(_, o)| strip_type(o))
            .collect();
        let (api_version, kind) = res.list_kind();
        json_response(
            200,
            &json!({"kind": kind, "apiVersion": api_version,
                "metadata": {"resourceVersion": self.rv.to_string()}, "items": items}),
        )
    }

    fn create(&mut self, res: Res, ns: &str, body: &[u8]) -> Response<Body> {
        if !self.namespaces.contains_key(ns) {
            return namespace_not_found(ns);
        }
        let mut obj: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return failure(
                    400,
                    "BadRequest",
                    &format!("the body of the request was in an unknown format: {e}"),
                );
            }
        };
        // Decode as the typed object first: a body k8s-openapi cannot read, the API would not
        // either.
        let typed = match res {
            Res::Jobs => serde_json::from_value::<Job>(obj.clone()).map(|_| ()),
            Res::Secrets => serde_json::from_value::<Secret>(obj.clone()).map(|_| ()),
            Res::Services => serde_json::from_value::<Service>(obj.clone()).map(|_| ()),
            Res::Pods => serde_json::from_value::<Pod>(obj.clone()).map(|_| ()),
        };
        if let Err(e) = typed {
            return failure(
                400,
                "BadRequest",
                &format!("the body of the request was in an unknown format: {e}"),
            );
        }
        let Some(name) = obj["metadata"]["name"].as_str().map(str::to_string) else {
            return failure(
                422,
                "Invalid",
                &format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    res.qualified()
                ),
            );
        };
        if obj["metadata"]["namespace"]
            .as_str()
            .is_some_and(|n| n != ns)
        {
            return failure(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            );
        }
        let key = (res, ns.to_string(), name.clone());
        if self.objects.contains_key(&key) {
            return failure_with(
                409,
                "AlreadyExists",
                &format!("{} \"{name}\" already exists", res.qualified()),
                Some(json!({"name": name, "group": res.group(), "kind": res.plural()})),
            );
        }
        let meta = self.new_meta(&name, Some(ns), None);
        let uid = meta.uid.clone().unwrap_or_default();
        merge(&mut obj["metadata"], &to_value(&meta));
        if res == Res::Jobs
            && let Err(why) = Self::admit_job(&mut obj, &name, &uid)
        {
            return failure(422, "Invalid", &why);
        }
        if res == Res::Secrets
            && let Err(why) = Self::admit_secret(&mut obj, &name)
        {
            return failure(422, "Invalid", &why);
        }
        self.objects.insert(key, obj.clone());
        if res == Res::Jobs {
            self.run_job(ns, &name);
        }
        json_response(201, &obj)
    }

    /// A Secret as the API server stores it: `stringData` folded into `data` (it wins on a
    /// shared key, and is never stored), a docker config Secret's JSON checked. `Err` is the
    /// 422 message.
    fn admit_secret(obj: &mut Value, name: &str) -> Result<(), String> {
        if let Some(Value::Object(string_data)) =
            obj.as_object_mut().and_then(|o| o.remove("stringData"))
        {
            for (k, v) in string_data {
                let text = v.as_str().unwrap_or_default();
                obj["data"][k] = json!(hoist_core::registry::base64_encode(text.as_bytes()));
            }
        }
        if obj["type"] == json!("kubernetes.io/dockerconfigjson") {
            let invalid =
                |why: &str| format!("Secret \"{name}\" is invalid: data[.dockerconfigjson]: {why}");
            let secret: Secret =
                serde_json::from_value(obj.clone()).map_err(|e| invalid(&e.to_string()))?;
            let Some(config) = secret
                .data
                .as_ref()
                .and_then(|d| d.get(".dockerconfigjson"))
            else {
                return Err(invalid("Required value"));
            };
            if let Err(e) = serde_json::from_slice::<Value>(&config.0) {
                return Err(invalid(&format!(
                    "Invalid value: \"<secret contents redacted>\": {e}"
                )));
            }
        }
        Ok(())
    }

    /// Validation and defaulting of a Job, as the API server does on create; `Err` is the
    /// 422 message.
    fn admit_job(obj: &mut Value, name: &str, uid: &str) -> Result<(), String> {
        let invalid =
            |field: &str, why: &str| format!("Job.batch \"{name}\" is invalid: {field}: {why}");
        let containers = obj["spec"]["template"]["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if containers.is_empty() {
            return Err(invalid("spec.template.spec.containers", "Required value"));
        }
        for (i, c) in containers.iter().enumerate() {
            if c["image"].as_str().is_none_or(str::is_empty) {
                return Err(invalid(
                    &format!("spec.template.spec.containers[{i}].image"),
                    "Required value",
                ));
            }
        }
        match obj["spec"]["template"]["spec"]["restartPolicy"].as_str() {
            Some("Never" | "OnFailure") => {}
            other => {
                return Err(invalid(
                    "spec.template.spec.restartPolicy",
                    &format!(
                        "Required value: valid values: \"OnFailure\", \"Never\" (got {other:?})"
                    ),
                ));
            }
        }
        let server_labels = json!({"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
            "batch.kubernetes.io/job-name": name, "job-name": name});
        merge(
            &mut obj["spec"]["template"]["metadata"]["labels"],
            &server_labels,
        );
        let selector = LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "batch.kubernetes.io/controller-uid".to_string(),
                uid.to_string(),
            )])),
            ..Default::default()
        };
        let spec = &mut obj["spec"];
        spec["selector"] = to_value(&selector);
        for (k, v) in [
            ("completions", json!(1)),
            ("parallelism", json!(1)),
            ("backoffLimit", json!(6)),
            ("completionMode", json!("NonIndexed")),
            ("suspend", json!(false)),
        ] {
            if spec[k].is_null() {
                spec[k] = v;
            }
        }
        obj["metadata"]["generation"] = json!(1);
        obj["status"] = json!({});
        Ok(())
    }

    /// The Job controller and kubelet at once: create the Job's pods, run them, set its status.
    fn run_job(&mut self, ns: &str, name: &str) {
        let key = (Res::Jobs, ns.to_string(), name.to_string());
        let Some(job) = self.objects.get(&key).cloned() else {
            return;
        };
        let job: Job = serde_json::from_value(job).expect("an admitted Job reads back");
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let spec = job.spec.clone().unwrap_or_default();
        let indexed = spec.completion_mode.as_deref() == Some("Indexed");
        let completions = spec.completions.unwrap_or(1).max(1);
        let started = now();
        let (mut active, mut unscheduled, mut succeeded, mut failed) = (0, 0, 0, 0);
        for index in 0..completions {
            let mut meta = spec.template.metadata.clone().unwrap_or_default();
            let pod_name = match indexed {
                true => format!("{name}-{index}-{}", self.suffix()),
                false => format!("{name}-{}", self.suffix()),
            };
            let fresh = self.new_meta(&pod_name, Some(ns), None);
            meta.name = fresh.name;
            meta.namespace = fresh.namespace;
            meta.uid = fresh.uid;
            meta.resource_version = fresh.resource_version;
            meta.creation_timestamp = fresh.creation_timestamp;
            meta.generate_name = Some(format!("{name}-"));
            if indexed {
                let idx = index.to_string();
                meta.annotations.get_or_insert_default().insert(
                    "batch.kubernetes.io/job-completion-index".into(),
                    idx.clone(),
                );
                meta.labels
                    .get_or_insert_default()
                    .insert("batch.kubernetes.io/job-completion-index".into(), idx);
            }
            meta.owner_references = Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "Job".into(),
                name: name.into(),
                uid: uid.clone(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]);
            let mut pod_spec = spec.template.spec.clone().unwrap_or_default();
            let node = match schedule::pick(&self.nodes, &pod_spec) {
                Ok(node) => node,
                Err(why) => {
                    // Pending pods count as active, as the Job controller counts them.
                    active += 1;
                    unscheduled += 1;
                    let pod = Pod {
                        metadata: meta,
                        spec: Some(pod_spec),
                        status: Some(PodStatus {
                            phase: Some("Pending".into()),
                            qos_class: Some("BestEffort".into()),
                            conditions: Some(vec![PodCondition {
                                type_: "PodScheduled".into(),
                                status: "False".into(),
                                reason: Some("Unschedulable".into()),
                                message: Some(why),
                                last_transition_time: Some(started.clone()),
                                ..Default::default()
                            }]),
                            ..Default::default()
                        }),
                    };
                    self.objects
                        .insert((Res::Pods, ns.to_string(), pod_name), to_value(&pod));
                    continue;
                }
            };
            pod_spec.node_name = Some(node);
            let container = pod_spec.containers.first().cloned().unwrap_or_default();
            let argv: Vec<String> = container
                .command
                .iter()
                .flatten()
                .chain(container.args.iter().flatten())
                .cloned()
                .collect();
            let outcome = simulate(&argv);
            let cid = format!("containerd://{:064x}", self.serial);
            let image = container.image.clone().unwrap_or_default();
            let (phase, state, log) = match outcome {
                Outcome::Runs(log) => {
                    active += 1;
                    (
                        "Running",
                        ContainerState {
                            running: Some(ContainerStateRunning {
                                started_at: Some(started.clone()),
                            }),
                            ..Default::default()
                        },
                        log,
                    )
                }
                Outcome::Exited(code, log) => {
                    if code == 0 {
                        succeeded += 1
                    } else {
                        failed += 1
                    }
                    (
                        if code == 0 { "Succeeded" } else { "Failed" },
                        ContainerState {
                            terminated: Some(ContainerStateTerminated {
                                exit_code: code,
                                reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
                                started_at: Some(started.clone()),
                                finished_at: Some(now()),
                                container_id: Some(cid.clone()),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        log,
                    )
                }
            };
            let running = phase == "Running";
            let cond = |t: &str, ok: bool, reason: Option<&str>| PodCondition {
                type_: t.into(),
                status: if ok { "True" } else { "False" }.into(),
                reason: reason.map(str::to_string),
                last_transition_time: Some(started.clone()),
                ..Default::default()
            };
            let done_reason = (!running).then_some("PodCompleted");
            let pod = Pod {
                metadata: meta,
                spec: Some(pod_spec),
                status: Some(PodStatus {
                    phase: Some(phase.into()),
                    host_ip: Some("10.0.0.10".into()),
                    pod_ip: Some(format!("10.244.0.{}", 10 + index)),
                    start_time: Some(started.clone()),
                    qos_class: Some("BestEffort".into()),
                    conditions: Some(vec![
                        cond("PodScheduled", true, None),
                        cond("Initialized", true, done_reason),
                        cond("Ready", running, done_reason),
                        cond("ContainersReady", running, done_reason),
                    ]),
                    container_statuses: Some(vec![ContainerStatus {
                        name: container.name.clone(),
                        image: image.clone(),
                        image_id: format!("{image}@sha256:{:064x}", self.serial),
                        container_id: Some(cid),
                        ready: running,
                        started: Some(running),
                        restart_count: 0,
                        state: Some(state),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            };
            self.logs.insert((ns.to_string(), pod_name.clone()), log);
            self.objects
                .insert((Res::Pods, ns.to_string(), pod_name), to_value(&pod));
        }
        let cond = |t: &str, reason: &str, message: &str| JobCondition {
            type_: t.into(),
            status: "True".into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_probe_time: Some(now()),
            last_transition_time: Some(now()),
        };
        let mut status = JobStatus {
            start_time: Some(started),
            active: (active > 0).then_some(active),
            ready: Some(active - unscheduled),
            terminating: Some(0),
            succeeded: (succeeded > 0).then_some(succeeded),
            failed: (failed > 0).then_some(failed),
            uncounted_terminated_pods: Some(UncountedTerminatedPods::default()),
            ..Default::default()
        };
        if failed > 0 {
            status.conditions = Some(vec![
                cond(
                    "FailureTarget",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
                cond(
                    "Failed",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
            ]);
        } else if succeeded == completions {
            status.completion_time = Some(now());
            status.conditions = Some(vec![
                cond(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ),
                cond(
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ),
            ]);
        }
        let rv = self.next_rv();
        if let Some(j) = self.objects.get_mut(&key) {
            j["status"] = to_value(&status);
            j["metadata"]["resourceVersion"] = json!(rv);
        }
    }

    fn delete(&mut self, res: Res, ns: &str, name: &str, body: &[u8]) -> Response<Body> {
        let opts: Value = match body {
            [] => json!({}),
            b => match serde_json::from_slice(b) {
                Ok(v) => v,
                Err(e) => return failure(400, "BadRequest", &format!("bad DeleteOptions: {e}")),
            },
        };
        let key = (res, ns.to_string(), name.to_string());
        let Some(obj) = self.objects.get(&key).cloned() else {
            return not_found(res, name);
        };
        let uid = obj["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(want) = opts["preconditions"]["uid"].as_str()
            && want != uid
        {
            return failure(
                409,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {want}, UID in object meta: {uid}",
                    res.qualified()
                ),
            );
        }
        // batch/v1 Jobs orphan their pods unless told otherwise (kubectl says Background).
        let default = if res == Res::Jobs {
            "Orphan"
        } else {
            "Background"
        };
        let policy = match opts["propagationPolicy"].as_str() {
            Some(p) => p.to_string(),
            None if opts["orphanDependents"] == json!(false) => "Background".into(),
            None => default.into(),
        };
        let details = json!({"name": name, "group": res.group(), "kind": res.plural(), "uid": uid});
        if res == Res::Pods {
            return match self.delete_pod(&key) {
                true => json_response(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Success", "details": details}),
                ),
                false => json_response(200, &self.objects[&key]),
            };
        }
        match policy.as_str() {
            "Background" => {
                self.objects.remove(&key);
                self.delete_dependents(ns, &uid);
                json_response(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Success", "details": details}),
                )
            }
            "Foreground" | "Orphan" => {
                // Held by a finalizer until the collector has done its part.
                let finalizer = if policy == "Foreground" {
                    "foregroundDeletion"
                } else {
                    "orphan"
                };
                if policy == "Foreground" {
                    self.delete_dependents(ns, &uid);
                }
                let rv = self.next_rv();
                let o = self.objects.get_mut(&key).expect("present");
                // A second delete of an object on its way out keeps the first one's timestamp.
                if o["metadata"]["deletionTimestamp"].is_null() {
                    o["metadata"]["deletionTimestamp"] = to_value(&now());
                    o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                    o["metadata"]["finalizers"] = json!([finalizer]);
                    o["metadata"]["resourceVersion"] = json!(rv);
                }
                json_response(200, o)
            }
            other => failure(
                400,
                "BadRequest",
                &format!(
                    "propagationPolicy {other:?} is not one of Orphan, Background, Foreground"
                ),
            ),
        }
    }

    /// Delete a pod as the kubelet does: one whose container still runs stops after a grace
    /// period (marked with a deletionTimestamp meanwhile, phase unchanged); others go at once.
    /// Whether it is gone.
    fn delete_pod(&mut self, key: &Key) -> bool {
        let Some(pod) = self.objects.get_mut(key) else {
            return true;
        };
        if pod["status"]["phase"] == json!("Running") {
            if pod["metadata"]["deletionTimestamp"].is_null() {
                pod["metadata"]["deletionTimestamp"] = to_value(&Time(
                    jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30),
                ));
                pod["metadata"]["deletionGracePeriodSeconds"] = json!(30);
                self.stopping
                    .insert(key.clone(), Instant::now() + POD_GRACE);
            }
            return false;
        }
        self.logs.remove(&(key.1.clone(), key.2.clone()));
        self.objects.remove(key);
        true
    }

    /// Delete everything in `ns` owned by `uid` (the garbage collector's part).
    fn delete_dependents(&mut self, ns: &str, uid: &str) {
        let owned: Vec<Key> = self
            .objects
            .iter()
            .filter(|((_, n, _), o)| n == ns && owned_by(o, uid))
            .map(|(k, _)| k.clone())
            .collect();
        for k in owned {
            if k.0 == Res::Pods {
                self.delete_pod(&k);
            } else {
                self.objects.remove(&k);
            }
        }
    }

    /// Time passing: stop pods whose grace period is over, then finish the deletions held by
    /// finalizers (orphan the dependents, or wait until they are gone).
    fn collect_garbage(&mut self) {
        let now = Instant::now();
        let stopped: Vec<Key> = self
            .stopping
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in stopped {
            self.stopping.remove(&k);
            self.logs.remove(&(k.1.clone(), k.2.clone()));
            self.objects.remove(&k);
        }
        let pending: Vec<(Key, String, bool)> = self
            .objects
            .iter()
            .filter(|((r, _, _), o)| {
                *r != Res::Pods && !o["metadata"]["deletionTimestamp"].is_null()
            })
            .map(|(k, o)| {
                let orphan = o["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "orphan"));
                (
                    k.clone(),
                    o["metadata"]["uid"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    orphan,
                )
            })
            .collect();
        for (key, uid, orphan) in pending {
            if orphan {
                for o in self.objects.values_mut().filter(|o| owned_by(o, &uid)) {
                    if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| r["uid"] != json!(uid));
                    }
                }
            } else if self.objects.values().any(|o| owned_by(o, &uid)) {
                continue;
            }
            self.objects.remove(&key);
        }
    }

    fn patch(
        &mut self,
        res: Res,
        ns: &str,
        name: &str,
        content_type: &str,
        body: &[u8],
    ) -> Response<Body> {
        if !content_type.starts_with("application/merge-patch+json") {
            return failure(
                415,
                "UnsupportedMediaType",
                &format!(
                    "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json (this fake serves merge patches only; got {content_type:?})"
                ),
            );
        }
        let patch: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return failure(400, "BadRequest", &format!("error decoding patch: {e}")),
        };
        let rv = self.next_rv();
        let key = (res, ns.to_string(), name.to_string());
        let Some(obj) = self.objects.get_mut(&key) else {
            return not_found(res, name);
        };
        let (uid, created) = (
            obj["metadata"]["uid"].clone(),
            obj["metadata"]["creationTimestamp"].clone(),
        );
        merge(obj, &patch);
        // Identity fields are the server's.
        obj["metadata"]["uid"] = uid;
        obj["metadata"]["creationTimestamp"] = created;
        obj["metadata"]["name"] = json!(name);
        obj["metadata"]["namespace"] = json!(ns);
        obj["metadata"]["resourceVersion"] = json!(rv);
        json_response(200, obj)
    }

    fn log(&self, ns: &str, name: &str, q: &BTreeMap<String, String>) -> Response<Body> {
        let Some(pod) = self
            .objects
            .get(&(Res::Pods, ns.to_string(), name.to_string()))
        else {
            return not_found(Res::Pods, name);
        };
        let containers: Vec<&str> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        let container = match (q.get("container"), containers.as_slice()) {
            (Some(c), cs) if cs.contains(&c.as_str()) => c.clone(),
            (Some(c), _) => {
                return failure(
                    400,
                    "BadRequest",
                    &format!("container {c} is not valid for pod {name}"),
                );
            }
            (None, [one]) => one.to_string(),
            (None, _) => {
                return failure(
                    400,
                    "BadRequest",
                    &format!(
                        "a container name must be specified for pod {name}, choose one of: {containers:?}"
                    ),
                );
            }
        };
        if pod["status"]["phase"] == json!("Pending") {
            return failure(
                400,
                "BadRequest",
                &format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
                ),
            );
        }
        let text = self
            .logs
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_default();
        let text = match q.get("tailLines").map(|t| t.parse::<usize>()) {
            None => text,
            Some(Ok(n)) => {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(n)..]
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect()
            }
            Some(Err(e)) => return failure(400, "BadRequest", &format!("tailLines: {e}")),
        };
        respond(200, "text/plain", text.into_bytes())
    }
}

fn owned_by(o: &Value, uid: &str) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == json!(uid)))
}

/// List items carry no apiVersion/kind of their own.
fn strip_type(o: &Value) -> Value {
    let mut o = o.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    o
}
