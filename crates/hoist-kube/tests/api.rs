//! The platform against a scripted API server: tower-test's mock service stands in for the
//! transport, answering each request with an object in the real API's JSON shape and checking
//! what hoist sent (method, path, body). No Kubernetes API server can run on this machine; the
//! live test in hoist-cli/tests/kubernetes.rs runs against a real one when HOIST_K8S_E2E=1.

use hoist_core::{
    CancelOutcome, Command, GpuSpec, JobRecord, JobSpec, JobStatus, Platform, PlatformError,
    SubmitRequest,
};
use hoist_kube::{KubePlatform, KubeSettings};
use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::BTreeMap;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One expected request and the answer to it.
struct Step {
    method: &'static str,
    path: String,
    status: u16,
    body: Value,
}

fn step(method: &'static str, path: &str, status: u16, body: Value) -> Step {
    Step {
        method,
        path: path.to_string(),
        status,
        body,
    }
}

/// Serve `steps` in order; returns every request seen as (method, path?query, body).
fn serve(
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

fn platform() -> (KubePlatform, Handle) {
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

fn request(nodes: u32, gpus: u32) -> SubmitRequest {
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

fn node(name: &str, gpus: u32) -> Value {
    json!({"metadata": {"name": name}, "status": {"allocatable": {"cpu": "32", "nvidia.com/gpu": gpus.to_string()}}})
}

fn status_ok() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})
}

const JOB: &str = "hoist-0b5e7f2a-1111-4222-8333-944455556666";

#[tokio::test]
async fn multi_node_submit_creates_secret_service_and_indexed_job_in_order() {
    let (p, handle) = platform();
    let req = request(2, 4);
    let job_obj = |uid: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": JOB, "namespace": "ml", "uid": uid,
            "labels": {"hoist.dev/launch-token": "tok-1", "hoist.dev/job-id": req.job_id}}})
    };
    let server = serve(
        handle,
        vec![
            step(
                "GET",
                "/api/v1/nodes",
                200,
                json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": [node("a", 4), node("b", 4), node("cpu", 0)]}),
            ),
            step(
                "POST",
                "/api/v1/namespaces/ml/secrets",
                201,
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("{JOB}-env")}}),
            ),
            step(
                "POST",
                "/api/v1/namespaces/ml/services",
                201,
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": JOB}}),
            ),
            step(
                "POST",
                "/apis/batch/v1/namespaces/ml/jobs",
                201,
                job_obj("uid-1"),
            ),
            step(
                "PATCH",
                &format!("/api/v1/namespaces/ml/secrets/{JOB}-env"),
                200,
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("{JOB}-env")}}),
            ),
            step(
                "PATCH",
                &format!("/api/v1/namespaces/ml/services/{JOB}"),
                200,
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": JOB}}),
            ),
            step(
                "GET",
                "/api/v1/namespaces/kube-system",
                200,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system", "uid": "ks-uid-9"}}),
            ),
        ],
    );
    let sub = p.submit(&req).await.expect("submit");
    assert_eq!(sub.backend_job_id, JOB);
    assert_eq!(
        sub.backend_identity,
        "kubernetes:https://k8s.example:6443/#ca=none#ks=ks-uid-9"
    );
    let seen = server.await.expect("server");
    // The secret value travels only in the Secret; the Job refers to it.
    let secret = &seen[1].2;
    assert_eq!(
        secret["data"]["HF_TOKEN"], "aGZfc2VjcmV0X3ZhbHVl",
        "base64 of the value"
    );
    let job = &seen[3].2;
    assert!(!job.to_string().contains("hf_secret_value"));
    let spec = &job["spec"];
    assert_eq!(
        (
            spec["completionMode"].as_str(),
            spec["completions"].as_i64(),
            spec["parallelism"].as_i64()
        ),
        (Some("Indexed"), Some(2), Some(2))
    );
    assert_eq!(spec["template"]["spec"]["subdomain"], JOB);
    let service = &seen[2].2;
    assert_eq!(
        (
            service["spec"]["clusterIP"].as_str(),
            service["spec"]["publishNotReadyAddresses"].as_bool()
        ),
        (Some("None"), Some(true))
    );
    // Both are handed to the Job (owner references with its UID).
    for i in [4, 5] {
        assert_eq!(seen[i].2["metadata"]["ownerReferences"][0]["uid"], "uid-1");
    }
}

#[tokio::test]
async fn the_capacity_guard_refuses_before_creating_anything() {
    let (p, handle) = platform();
    let server = serve(
        handle,
        vec![step(
            "GET",
            "/api/v1/nodes",
            200,
            json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": [node("a", 2), node("b", 2)]}),
        )],
    );
    // 4 in all exist, but no node has the 4 one pod needs.
    let e = p.submit(&request(1, 4)).await.expect_err("refused");
    let PlatformError::Input(e) = e else {
        panic!("not an input error: {e}")
    };
    assert!(
        e.message
            .contains("4 allocatable nvidia.com/gpu (2 per node at most"),
        "{}",
        e.message
    );
    assert!(e.hint.contains("GPU Operator"));
    assert_eq!(
        server.await.expect("server").len(),
        1,
        "nothing was created"
    );
}

fn record(req: &SubmitRequest, status: JobStatus) -> JobRecord {
    let mut j = JobRecord::pending(
        req.job_id.clone(),
        "kubernetes".into(),
        req.spec.clone(),
        "tok-1".into(),
    );
    j.status = status;
    j
}

#[tokio::test]
async fn cancel_deletes_foreground_with_a_uid_precondition_then_the_rest() {
    let (p, handle) = platform();
    let req = request(2, 1);
    let server = serve(
        handle,
        vec![
            step(
                "GET",
                &format!("/apis/batch/v1/namespaces/ml/jobs/{JOB}"),
                200,
                json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": JOB, "uid": "uid-7", "labels": {"hoist.dev/job-id": req.job_id}}, "status": {"active": 2}}),
            ),
            step(
                "DELETE",
                &format!("/apis/batch/v1/namespaces/ml/jobs/{JOB}"),
                200,
                status_ok(),
            ),
            step(
                "DELETE",
                &format!("/api/v1/namespaces/ml/services/{JOB}"),
                200,
                status_ok(),
            ),
            step(
                "DELETE",
                &format!("/api/v1/namespaces/ml/secrets/{JOB}-env"),
                404,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "secrets not found"}),
            ),
            step(
                "DELETE",
                &format!("/api/v1/namespaces/ml/secrets/{JOB}-pull"),
                200,
                status_ok(),
            ),
        ],
    );
    let out = p
        .cancel(&record(&req, JobStatus::Running))
        .await
        .expect("cancel");
    assert_eq!(out, CancelOutcome::Requested);
    let seen = server.await.expect("server");
    assert_eq!(seen[1].2["propagationPolicy"], "Foreground");
    assert_eq!(seen[1].2["preconditions"]["uid"], "uid-7");
}

#[tokio::test]
async fn cancel_is_idempotent_and_keeps_a_finished_result() {
    let (p, handle) = platform();
    let req = request(1, 0);
    let server = serve(
        handle,
        vec![
            step(
                "GET",
                &format!("/apis/batch/v1/namespaces/ml/jobs/{JOB}"),
                200,
                json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": JOB, "uid": "u", "labels": {"hoist.dev/job-id": req.job_id}},
                "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}}),
            ),
            step(
                "GET",
                &format!("/apis/batch/v1/namespaces/ml/jobs/{JOB}"),
                404,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "jobs.batch not found"}),
            ),
            step(
                "DELETE",
                &format!("/api/v1/namespaces/ml/services/{JOB}"),
                404,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
            ),
        ],
    );
    let job = record(&req, JobStatus::Running);
    assert_eq!(
        p.cancel(&job).await.expect("cancel"),
        CancelOutcome::AlreadyFinished
    );
    assert_eq!(
        p.cancel(&job).await.expect("cancel again"),
        CancelOutcome::NotFound
    );
    assert_eq!(
        server.await.expect("server").len(),
        3,
        "nothing was deleted"
    );
}

#[tokio::test]
async fn status_of_many_jobs_is_two_calls_with_pending_reasons() {
    let (p, handle) = platform();
    let a = request(1, 1);
    let mut b = request(1, 1);
    b.job_id = "b0000000-0000-4000-8000-000000000000".into();
    let bname = "hoist-b0000000-0000-4000-8000-000000000000";
    let server = serve(
        handle,
        vec![
            step(
                "GET",
                "/apis/batch/v1/namespaces/ml/jobs",
                200,
                json!({"kind": "JobList", "apiVersion": "batch/v1", "metadata": {}, "items": [
                {"metadata": {"name": JOB}, "status": {"active": 1}},
                {"metadata": {"name": bname}, "status": {"active": 1}}]}),
            ),
            step(
                "GET",
                "/api/v1/namespaces/ml/pods",
                200,
                json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [
                {"metadata": {"name": "a-0", "labels": {"job-name": JOB}}, "status": {"phase": "Pending", "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."}]}},
                {"metadata": {"name": "b-0", "labels": {"job-name": bname}}, "status": {"phase": "Running", "startTime": "2026-11-24T10:00:00Z"}}]}),
            ),
        ],
    );
    let r = p
        .status(&[
            record(&a, JobStatus::Pending),
            record(&b, JobStatus::Pending),
        ])
        .await;
    let a_r = r[0].as_ref().expect("a");
    assert_eq!(a_r.status, JobStatus::Pending);
    assert!(
        a_r.message.contains("Insufficient nvidia.com/gpu"),
        "{}",
        a_r.message
    );
    assert_eq!(r[1].as_ref().expect("b").status, JobStatus::Running);
    let seen = server.await.expect("server");
    assert!(seen.iter().all(|(_, uri, _)| uri.contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dhoist")), "{seen:?}");
}

#[tokio::test]
async fn a_job_on_another_cluster_is_told_apart_by_kube_system_uid() {
    let (p, handle) = platform();
    let server = serve(
        handle,
        vec![step(
            "GET",
            "/api/v1/namespaces/kube-system",
            200,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system", "uid": "other-cluster"}}),
        )],
    );
    let id = p.identity().await.expect("identity");
    server.await.expect("server");
    assert_ne!(
        id,
        "kubernetes:https://k8s.example:6443/#ca=none#ks=ks-uid-9"
    );
    assert!(id.ends_with("#ks=other-cluster"), "{id}");
}

#[tokio::test]
async fn logs_come_from_every_pod_prefixed_by_rank() {
    let (p, handle) = platform();
    let req = request(2, 1);
    let pod = |name: &str, idx: &str| {
        json!({"metadata": {"name": name, "labels": {"job-name": JOB},
            "annotations": {"batch.kubernetes.io/job-completion-index": idx}}, "status": {"phase": "Running"}})
    };
    let (svc_handle, steps) = (
        handle,
        vec![step(
            "GET",
            "/api/v1/namespaces/ml/pods",
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {},
            "items": [pod("j-1-zz", "1"), pod("j-0-aa", "0")]}),
        )],
    );
    // The log endpoint answers text, not JSON: served by hand after the listing.
    let server = tokio::spawn(async move {
        let mut h = svc_handle;
        let listing = serve_one(&mut h, &steps[0]).await;
        let mut logs = Vec::new();
        for _ in 0..2 {
            let (req, send) = h.next_request().await.expect("log request");
            let path = req.uri().path().to_string();
            let text = if path.contains("j-0-aa") {
                "loss 1.0\nloss 0.5\n"
            } else {
                "waiting for rank 0\n"
            };
            logs.push(req.uri().to_string());
            send.send_response(
                Response::builder()
                    .status(200)
                    .body(Body::from(text.as_bytes().to_vec()))
                    .expect("response"),
            );
        }
        (listing, logs)
    });
    let text = p
        .logs(&record(&req, JobStatus::Running), Some(100))
        .await
        .expect("logs");
    assert_eq!(text, "[0] loss 1.0\n[0] loss 0.5\n[1] waiting for rank 0\n");
    let (_, logs) = server.await.expect("server");
    assert!(
        logs.iter()
            .all(|u| u.contains("container=job") && u.contains("tailLines=100")),
        "{logs:?}"
    );
}

async fn serve_one(h: &mut Handle, s: &Step) -> String {
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

#[tokio::test]
async fn an_evicted_job_runs_again_as_the_same_job_keeping_its_secret() {
    let (p, handle) = platform();
    let req = request(1, 1);
    let not_found = || json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"});
    let old = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": JOB, "namespace": "ml", "uid": "old-uid", "resourceVersion": "77",
            "labels": {"hoist.dev/job-id": req.job_id, "controller-uid": "old-uid"}},
        "spec": {"backoffLimit": 0, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "old-uid"}},
            "template": {"metadata": {"labels": {"job-name": JOB, "batch.kubernetes.io/controller-uid": "old-uid", "controller-uid": "old-uid"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "job", "image": "x"}]}}},
        "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}});
    let server = serve(
        handle,
        vec![
            step(
                "GET",
                &format!("/apis/batch/v1/namespaces/ml/jobs/{JOB}"),
                200,
                old,
            ),
            step(
                "PATCH",
                &format!("/api/v1/namespaces/ml/secrets/{JOB}-env"),
                200,
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}),
            ),
            step(
                "PATCH",
                &format!("/api/v1/namespaces/ml/services/{JOB}"),
                404,
                not_found(),
            ),
            step(
                "DELETE",
                &format!("/apis/batch/v1/namespaces/ml/jobs/{JOB}"),
                200,
                status_ok(),
            ),
            step(
                "POST",
                "/apis/batch/v1/namespaces/ml/jobs",
                409,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409, "message": "object is being deleted"}),
            ),
            step(
                "POST",
                "/apis/batch/v1/namespaces/ml/jobs",
                201,
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": JOB, "uid": "new-uid"}}),
            ),
            step(
                "PATCH",
                &format!("/api/v1/namespaces/ml/secrets/{JOB}-env"),
                200,
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}),
            ),
            step(
                "PATCH",
                &format!("/api/v1/namespaces/ml/services/{JOB}"),
                404,
                not_found(),
            ),
            step(
                "GET",
                "/api/v1/namespaces/kube-system",
                200,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system", "uid": "ks"}}),
            ),
        ],
    );
    let sub = p
        .retry(&record(&req, JobStatus::Running))
        .await
        .expect("retry")
        .expect("ran again");
    assert_eq!(sub.backend_job_id, JOB);
    let seen = server.await.expect("server");
    assert_eq!(
        seen[1].2["metadata"]["ownerReferences"],
        Value::Null,
        "released before the delete"
    );
    assert_eq!(
        (
            seen[3].2["propagationPolicy"].as_str(),
            seen[3].2["preconditions"]["uid"].as_str()
        ),
        (Some("Background"), Some("old-uid"))
    );
    let fresh = &seen[5].2;
    assert!(
        fresh["spec"]["selector"].is_null()
            && fresh["metadata"]["uid"].is_null()
            && fresh["status"].is_null(),
        "{fresh}"
    );
    let tl = &fresh["spec"]["template"]["metadata"]["labels"];
    assert!(
        tl["controller-uid"].is_null()
            && tl["batch.kubernetes.io/controller-uid"].is_null()
            && tl["job-name"] == JOB,
        "{tl}"
    );
    assert_eq!(
        seen[6].2["metadata"]["ownerReferences"][0]["uid"],
        "new-uid"
    );
}

#[tokio::test]
async fn follow_streams_each_started_pod_until_the_job_ends() {
    let (p, mut h) = platform();
    let req = request(1, 0);
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        // 1. the pods, 2. the running pod's log (followed), 3. the Job, now complete.
        let answers: Vec<(&str, Vec<u8>)> = vec![
            ("/api/v1/namespaces/ml/pods", serde_json::to_vec(&json!({"kind": "PodList", "apiVersion": "v1", "metadata": {},
                "items": [{"metadata": {"name": "p0", "labels": {"job-name": JOB}}, "status": {"phase": "Running"}}]})).expect("json")),
            ("/api/v1/namespaces/ml/pods/p0/log", b"step 1\nstep 2\ndone\n".to_vec()),
            ("/apis/batch/v1/namespaces/ml/jobs/hoist-0b5e7f2a-1111-4222-8333-944455556666", serde_json::to_vec(&json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": JOB}, "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}})).expect("json")),
        ];
        for (path, body) in answers {
            let (req, send) = h.next_request().await.expect("request");
            assert_eq!(req.uri().path(), path);
            seen.push(req.uri().to_string());
            send.send_response(
                Response::builder()
                    .status(200)
                    .body(Body::from(body))
                    .expect("response"),
            );
        }
        seen
    });
    let mut stream = p
        .follow_logs(&record(&req, JobStatus::Running), None)
        .await
        .expect("follow");
    let mut out = String::new();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        out.push_str(&chunk.expect("chunk"));
    }
    assert_eq!(out, "step 1\nstep 2\ndone\n");
    let seen = server.await.expect("server");
    assert!(
        seen[1].contains("follow=true") && seen[1].contains("container=job"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn details_name_the_job_and_list_its_pods_by_rank() {
    let (p, handle) = platform();
    let req = request(2, 1);
    let pod = |name: &str, idx: &str, node: Option<&str>, phase: &str| {
        json!({"metadata": {"name": name, "labels": {"job-name": JOB},
            "annotations": {"batch.kubernetes.io/job-completion-index": idx}},
            "spec": {"containers": [], "nodeName": node}, "status": {"phase": phase}})
    };
    let server = serve(
        handle,
        vec![step(
            "GET",
            "/api/v1/namespaces/ml/pods",
            200,
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": {},
            "items": [pod("j-1-zz", "1", None, "Pending"), pod("j-0-aa", "0", Some("gpu-a"), "Running")]}),
        )],
    );
    let d = p
        .details(&record(&req, JobStatus::Running))
        .await
        .expect("details")
        .expect("some");
    server.await.expect("server");
    assert_eq!(d.fields["namespace"], "ml");
    assert_eq!(d.fields["job"], JOB);
    let names: Vec<_> = d.replicas.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["j-0-aa", "j-1-zz"]);
    assert_eq!(d.replicas[0].node.as_deref(), Some("gpu-a"));
    // `hoist show --json` keeps its shape: the pod's name is written as "pod".
    let v = serde_json::to_value(&d).expect("json");
    assert_eq!(v["replicas"][0]["pod"], "j-0-aa");
    assert_eq!(v["namespace"], "ml");
}

#[tokio::test]
async fn dry_run_is_a_yaml_stream_and_the_same_objects_as_json() {
    let (p, _handle) = platform();
    let d = p.dry_run(&request(2, 4)).await.expect("dry run");
    let kinds: Vec<_> = d
        .json
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kinds, ["Secret", "Service", "Job"]);
    assert_eq!(d.text.matches("\n---\n").count(), 2, "{}", d.text);
    assert!(!d.text.contains("hf_secret_value") && !d.json.to_string().contains("hf_secret_value"));
    assert_eq!(
        p.pin(),
        Some(json!({"context": null, "namespace": "ml"})),
        "later verbs go back to this namespace"
    );
}

#[tokio::test]
async fn refusals_become_matchable_kinds() {
    let (p, handle) = platform();
    let forbidden = |msg: &str| {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": msg,
            "reason": "Forbidden", "code": 403})
    };
    let server = serve(
        handle,
        vec![
            // Namespaced rights without nodes: the capacity check is left to the scheduler.
            step(
                "GET",
                "/api/v1/nodes",
                403,
                forbidden(
                    "nodes is forbidden: User \"dev\" cannot list resource \"nodes\" in API group \"\" at the cluster scope",
                ),
            ),
            step(
                "POST",
                "/apis/batch/v1/namespaces/ml/jobs",
                403,
                forbidden(
                    "jobs.batch is forbidden: User \"dev\" cannot create resource \"jobs\" in API group \"batch\" in the namespace \"ml\"",
                ),
            ),
            step(
                "GET",
                "/api/v1/nodes",
                200,
                json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": [node("a", 4)]}),
            ),
            step(
                "POST",
                "/apis/batch/v1/namespaces/ml/jobs",
                403,
                forbidden(
                    "jobs \"x\" is forbidden: exceeded quota: gpu-quota, requested: requests.nvidia.com/gpu=4",
                ),
            ),
        ],
    );
    let mut req = request(1, 4);
    req.env.clear();
    let e = p.submit(&req).await.expect_err("denied");
    assert!(matches!(e, PlatformError::Denied { .. }), "{e:?}");
    assert!(e.hint().is_some_and(|h| h.contains("kubectl auth can-i")));
    let e = p.submit(&req).await.expect_err("quota");
    assert!(matches!(e, PlatformError::Quota { .. }), "{e:?}");
    assert!(e.to_string().contains("exceeded quota"), "{e}");
    // Nothing was created before the Job, so nothing is deleted after its refusal.
    assert_eq!(server.await.expect("server").len(), 4);
}
