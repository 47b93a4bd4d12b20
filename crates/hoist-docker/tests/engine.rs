//! The platform as a library against the real engine: container replacement rules.

use hoist_core::{Command, JobSpec, Platform, SubmitRequest};
use hoist_docker::container_name;
use std::collections::BTreeMap;

const IMG: &str = "hoist-test/busybox:latest";

fn request(job_id: &str) -> SubmitRequest {
    let mut spec = JobSpec::new(Command::Argv(vec!["true".into()]));
    spec.image = Some(IMG.into());
    SubmitRequest {
        job_id: job_id.into(),
        launch_token: "tok".into(),
        spec,
        env: BTreeMap::new(),
        runner: None,
        runner_binary: None,
    }
}

fn docker(args: &[&str]) -> std::process::Output {
    std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI (scripts/testbed.sh)")
}

#[tokio::test(flavor = "current_thread")]
async fn replaces_only_its_own_containers() {
    let home = tempfile::tempdir().expect("tmp");
    let p = hoist_docker::for_host(home.path(), "unix:///var/run/docker.sock").expect("platform");
    let id = format!("replace-{}", std::process::id());
    let first = p.submit(&request(&id)).await.expect("first submit");
    let second = p
        .submit(&request(&id))
        .await
        .expect("a retry of the same job replaces its container");
    assert_ne!(first.backend_job_id, second.backend_job_id);
    let _ = docker(&["rm", "-f", &container_name(&id)]);

    let foreign = format!("foreign-{}", std::process::id());
    let made = docker(&["create", "--name", &container_name(&foreign), IMG, "true"]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let err = p
        .submit(&request(&foreign))
        .await
        .expect_err("a container that is not this job's is never replaced");
    assert!(err.to_string().contains("is not this job's"), "{err}");
    let still = docker(&["inspect", "-f", "{{.Id}}", &container_name(&foreign)]);
    assert!(still.status.success(), "the foreign container is untouched");
    let _ = docker(&["rm", "-f", &container_name(&foreign)]);
}
