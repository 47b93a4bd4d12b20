//! A small in-memory Kubernetes API server, as the `tower::Service` a `kube::Client` sends its
//! requests through. It keeps Jobs, Pods, Secrets and Services per namespace and answers in the
//! real API's shapes: 201 on create, a v1 `Status` body with the real reason and code on
//! refusals, `metadata.uid`/`resourceVersion` on every object, label selectors on lists,
//! owner-reference garbage collection on delete.
//!
//! It stands in for the Job controller, the scheduler and the kubelet too: a created Job
//! "runs" at once, unless created suspended (`spec.suspend: true`): then it makes no pods and
//! carries the Suspended condition until a merge patch resumes it. Its pods land on the first node whose labels satisfy their node selector
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
//! as namespaced RBAC does. A create's answer can be lost ([`FakeApi::lose_next_answer`]): the
//! object lands, the client gets the 504 an API server past its deadline sends.

mod controller;
mod deletion;
mod schedule;
mod server;
mod wire;

use http::{Request, Response};
use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, NamespaceStatus, Node, NodeStatus};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::client::Body;
use serde_json::Value;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wire::failure;

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
    /// Creates of these kinds that land but whose answer is lost (once each).
    lost_answers: Vec<Res>,
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
            lost_answers: Vec::new(),
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

    /// The next create of `res` is stored but answered 504, as when the API server's deadline
    /// passes while the write goes through (the client never learns it landed).
    #[allow(dead_code)] // not every test crate that includes the fake loses answers
    pub fn lose_next_answer(&self, res: Res) {
        self.lock().lost_answers.push(res);
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
}
