//! The platform's changes to the cluster against a scripted API server (`scripted`): submit,
//! cancel, re-run, dry run, and the API's refusals. No Kubernetes API server can run on this
//! machine; the live test in hoist-cli/tests/kubernetes.rs runs against a real one when
//! HOIST_K8S_E2E=1.

mod scripted;

use hoist_core::{CancelOutcome, JobStatus, Platform, PlatformError};
use scripted::*;
use serde_json::{Value, json};

#[tokio::test]
async fn multi_node_submit_creates_secret_service_and_indexed_job_in_order() {
    let (p, handle) = platform();
    let req = request(2, 4);
    let job_obj = |uid: &str, suspend: bool| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": JOB, "namespace": "ml", "uid": uid,
            "labels": {"hoist.dev/launch-token": "tok-1", "hoist.dev/job-id": req.job_id}},
            "spec": {"suspend": suspend, "template": {}}})
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
                job_obj("uid-1", true),
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
                "PATCH",
                &format!("/apis/batch/v1/namespaces/ml/jobs/{JOB}"),
                200,
                job_obj("uid-1", false),
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
    // Created held back, and let run only once what it needs is in place.
    assert_eq!(spec["suspend"], true);
    assert_eq!(seen[6].2, json!({"spec": {"suspend": false}}));
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
