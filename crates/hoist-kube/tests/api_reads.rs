//! What the platform reads back from the cluster against a scripted API server (`scripted`):
//! status of many jobs at once, the cluster's identity, logs of every pod (read and followed),
//! and the replicas `hoist show` lists.

mod scripted;

use hoist_core::{JobStatus, Platform};
use http::Response;
use kube::client::Body;
use scripted::*;
use serde_json::json;

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
