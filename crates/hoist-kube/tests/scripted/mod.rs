//! What the scripted-API tests share: tower-test's mock service as the transport, answering
//! each expected request (method and path checked) with an object in the real API's JSON shape,
//! and the platform, request and objects they use.
#![allow(dead_code)] // each test crate uses its own part

use hoist_core::{Command, GpuSpec, JobRecord, JobSpec, JobStatus, SubmitRequest};
use hoist_kube::{KubePlatform, KubeSettings};
use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One expected request and the answer to it.
pub struct Step {
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    pub body: Value,
}

pub fn step(method: &'static str, path: &str, status: u16, body: Value) -> Step {
    Step {
        method,
        path: path.to_string(),
        status,
        body,
    }
}

/// Serve `steps` in order; returns every request seen as (method, path?query, body).
pub fn serve(
    mut handle: Handle,
    steps: Vec<Step>,
) -> tokio::task::JoinHandle<Vec<(String, String, Value)>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        for s in steps {
            let (req, send) = handle.next_request().await.expect("a request");
            let method = req.method().to_string();
            let uri = req.uri().clone();
            let body = req.into_body().collect_bytes().await.expect("body");
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!(
                (method.as_str(), uri.path()),
                (s.method, s.path.as_str()),
                "unexpected request {method} {uri}; seen so far: {seen:?}"
            );
            seen.push((method, uri.to_string(), body));
            send.send_response(
                Response::builder()
                    .status(s.status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&s.body).expect("json")))
                    .expect("response"),
            );
        }
        seen
    })
}

pub fn platform() -> (KubePlatform, Handle) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(svc, "default");
    let settings = KubeSettings {
        namespace: Some("ml".into()),
        ..Default::default()
    };
    (
        KubePlatform::with_client(settings, client, "https://k8s.example:6443/"),
        handle,
    )
}

pub fn request(nodes: u32, gpus: u32) -> SubmitRequest {
    let mut spec = JobSpec::new(Command::Argv(vec!["torchrun".into(), "train.py".into()]));
    spec.image = Some("nvcr.io/nvidia/pytorch:24.05-py3".into());
    spec.nodes = nodes;
    spec.gpus = GpuSpec::Count(gpus);
    SubmitRequest {
        job_id: "0b5e7f2a-1111-4222-8333-944455556666".into(),
        launch_token: "tok-1".into(),
        spec,
        env: BTreeMap::from([
            ("HF_TOKEN".to_string(), "hf_secret_value".to_string()),
            ("MODE".to_string(), "fast".to_string()),
        ]),
        runner: None,
        runner_binary: None,
    }
}

pub fn node(name: &str, gpus: u32) -> Value {
    json!({"metadata": {"name": name}, "status": {"allocatable": {"cpu": "32", "nvidia.com/gpu": gpus.to_string()}}})
}

pub fn status_ok() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})
}

pub const JOB: &str = "hoist-0b5e7f2a-1111-4222-8333-944455556666";

pub fn record(req: &SubmitRequest, status: JobStatus) -> JobRecord {
    let mut j = JobRecord::pending(
        req.job_id.clone(),
        "kubernetes".into(),
        req.spec.clone(),
        "tok-1".into(),
    );
    j.status = status;
    j
}

pub async fn serve_one(h: &mut Handle, s: &Step) -> String {
    let (req, send) = h.next_request().await.expect("a request");
    assert_eq!(
        (req.method().as_str(), req.uri().path()),
        (s.method, s.path.as_str())
    );
    send.send_response(
        Response::builder()
            .status(s.status)
            .body(Body::from(serde_json::to_vec(&s.body).expect("json")))
            .expect("response"),
    );
    req.uri().to_string()
}
