//! The kubernetes platform from the command line. No API server can run on this machine: the
//! client is tested against scripted API answers in hoist-kube/tests; here are the parts that
//! need no cluster, and a live test that runs against a real one (kind, k3s, a GPU cluster)
//! when HOIST_K8S_E2E=1 and a kubeconfig are present.

mod harness;
use harness::*;

#[test]
fn without_any_cluster_config_the_error_says_what_was_tried() {
    let e = Env::new();
    let o = Out(e
        .cmd(&[
            "run",
            "--platform",
            "k8s",
            "--image",
            "busybox",
            "--",
            "true",
        ])
        .env("KUBECONFIG", e.path("no-such-kubeconfig"))
        .env("HOME", e.path("empty-home"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .expect("hoist"));
    assert_ne!(o.code(), 0);
    let err = o.stderr();
    assert!(
        err.contains("no usable kubeconfig") && err.contains("not inside a cluster"),
        "{err}"
    );
    assert!(
        err.contains("TAO_K8S_CONTEXT"),
        "the hint names the context variable: {err}"
    );
    // Like any submit that could not reach its backend: recorded as Error, with the reason.
    let jobs = e.ls();
    assert_eq!(jobs.len(), 1);
    let s = e.status_json(jobs[0]["job_id"].as_str().expect("id"));
    assert_eq!(s["status"], "Error");
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.contains("no usable kubeconfig")),
        "{s}"
    );
}

#[test]
fn kubernetes_flags_are_checked_before_any_cluster_is_asked() {
    let e = Env::new();
    let o = e.run(&["run", "--namespace", "ml", "--", "true"]);
    assert_eq!(o.code(), 2);
    assert!(
        o.stderr()
            .contains("--namespace applies to the kubernetes platform, not local"),
        "{}",
        o.stderr()
    );
    let o = e.run(&[
        "run",
        "--platform",
        "kubernetes",
        "--image",
        "x",
        "--toleration",
        "gpu:Sometimes",
        "--",
        "true",
    ]);
    assert_eq!(o.code(), 2);
    assert!(
        o.stderr().contains("bad toleration effect"),
        "{}",
        o.stderr()
    );
    // The manifests, without a cluster: --dry-run renders them (secret values masked).
    let o = Out(e
        .cmd(&[
            "run",
            "--dry-run",
            "--platform",
            "k8s",
            "--image",
            "busybox",
            "--nodes",
            "2",
            "--gpus",
            "1",
            "--env",
            "HF_TOKEN=hf_dry_secret",
            "--",
            "echo",
            "$NODE_RANK",
        ])
        .output()
        .expect("hoist"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    // A YAML stream kubectl applies as it is: Secret (masked), headless Service, Indexed Job.
    let docs: Vec<serde_json::Value> = o
        .stdout()
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).expect("a YAML document"))
        .collect();
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds, ["Secret", "Service", "Job"], "{}", o.stdout());
    assert_eq!(docs[2]["spec"]["completionMode"], "Indexed");
    assert_eq!(docs[1]["spec"]["clusterIP"], "None");
    assert_eq!(docs[2]["apiVersion"], "batch/v1");
    assert!(!o.stdout().contains("hf_dry_secret"));
    // --json gives the same objects as JSON.
    let mut args = vec![
        "run",
        "--dry-run",
        "--json",
        "--platform",
        "k8s",
        "--image",
        "busybox",
    ];
    args.extend([
        "--nodes",
        "2",
        "--env",
        "HF_TOKEN=hf_dry_secret",
        "--",
        "true",
    ]);
    let j = Out(e.cmd(&args).output().expect("hoist"));
    assert_eq!(j.code(), 0, "{}", j.stderr());
    let v: serde_json::Value = serde_json::from_str(&j.stdout()).expect("json");
    let kinds: Vec<&str> = v
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["kind"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kinds, ["Secret", "Service", "Job"]);
    assert!(!j.stdout().contains("hf_dry_secret"));
}

#[test]
fn a_dry_run_shows_the_pull_secret_gpu_placement_and_node_addresses() {
    let e = Env::new();
    let marker = e.path("password-command-ran");
    let o = Out(e
        .cmd(&[
            "run",
            "--dry-run",
            "--platform",
            "k8s",
            "--image",
            "registry.example.com/team/trainer:1.2",
            "--gpus",
            "A100:2",
            "--nodes",
            "2",
            "--",
            "torchrun",
            "train.py",
        ])
        .env("SKYPILOT_DOCKER_USERNAME", "robot")
        .env(
            "SKYPILOT_DOCKER_PASSWORD",
            format!("$(touch {}; echo cli-pw-9931)", marker.display()),
        )
        .env("SKYPILOT_DOCKER_SERVER", "registry.example.com")
        .env_remove("DOCKER_USERNAME")
        .env_remove("DOCKER_PASSWORD")
        .env_remove("DOCKER_SERVER")
        .output()
        .expect("hoist"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let out = o.stdout();
    assert!(!marker.exists(), "a dry run ran the password command");
    assert!(!out.contains("cli-pw-9931") && !o.stderr().contains("cli-pw-9931"));
    let docs: Vec<serde_json::Value> = out
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).expect("a YAML document"))
        .collect();
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds, ["Secret", "Service", "Job"], "{out}");
    let secret = &docs[0];
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let config: serde_json::Value = serde_json::from_str(
        secret["stringData"][".dockerconfigjson"]
            .as_str()
            .expect("the docker config, readable"),
    )
    .expect("JSON");
    assert_eq!(
        config["auths"]["registry.example.com"]["password"],
        "<redacted: from SKYPILOT_DOCKER_PASSWORD>"
    );
    let pod = &docs[2]["spec"]["template"]["spec"];
    assert_eq!(
        pod["imagePullSecrets"][0]["name"],
        secret["metadata"]["name"]
    );
    // No cluster is asked: the model as given, on GPU feature discovery's label.
    assert_eq!(
        pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"][0],
        serde_json::json!({"key": "nvidia.com/gpu.product", "operator": "In", "values": ["A100"]})
    );
    let env = pod["containers"][0]["env"].as_array().expect("env");
    let value = |name: &str| {
        env.iter()
            .find(|v| v["name"] == name)
            .and_then(|v| v["value"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let ips = value("HOIST_NODE_IPS");
    let lines: Vec<&str> = ips.lines().collect();
    assert_eq!(lines.len(), 2, "{ips}");
    assert_eq!(lines[0], value("MASTER_ADDR"));
    assert!(lines[1].contains("-1."), "{ips}");
}

/// Opt-in: a real cluster. `HOIST_K8S_E2E=1` plus a kubeconfig (KUBECONFIG or ~/.kube/config);
/// `HOIST_K8S_E2E_IMAGE` (default busybox:1.36) must be pullable by the cluster. GPU-free.
#[test]
fn live_cluster_end_to_end() {
    if std::env::var("HOIST_K8S_E2E").is_err() {
        eprintln!(
            "live_cluster_end_to_end: not run (set HOIST_K8S_E2E=1 with a kubeconfig to run it)"
        );
        return;
    }
    let e = Env::new();
    let image = std::env::var("HOIST_K8S_E2E_IMAGE").unwrap_or_else(|_| "busybox:1.36".into());
    let k = |args: &[&str]| {
        let mut c = e.cmd(args);
        if let Ok(kc) = std::env::var("KUBECONFIG") {
            c.env("KUBECONFIG", kc);
        }
        Out(c.output().expect("hoist"))
    };
    let o = k(&[
        "run",
        "--platform",
        "k8s",
        "--image",
        &image,
        "--env",
        "GREETING=hello",
        "--",
        "echo $GREETING from $TAO_JOB_ID",
    ]);
    assert_eq!(o.code(), 0, "{}{}", o.stdout(), o.stderr());
    assert!(o.stdout().contains("hello from "), "{}", o.stdout());
    // Two pods, each with its rank, the master address of pod 0, and ranked log lines.
    let o = k(&[
        "run",
        "--platform",
        "k8s",
        "--image",
        &image,
        "--nodes",
        "2",
        "--",
        "echo rank=$NODE_RANK of $WORLD_SIZE master=$MASTER_ADDR",
    ]);
    assert_eq!(o.code(), 0, "{}{}", o.stdout(), o.stderr());
    let out = o.stdout();
    assert!(
        out.contains("[0] rank=0 of 2") && out.contains("[1] rank=1 of 2"),
        "{out}"
    );
    // A failure is explained; a cancel stops a running job.
    let o = k(&[
        "run",
        "--platform",
        "k8s",
        "--image",
        &image,
        "--",
        "exit 3",
    ]);
    assert_eq!(o.code(), 3, "{}", o.stderr());
    let id = k(&[
        "run",
        "-d",
        "--platform",
        "k8s",
        "--image",
        &image,
        "--",
        "sleep 600",
    ])
    .stdout()
    .trim()
    .to_string();
    wait_for("the job to run", || {
        k(&["status", &id, "--json"])
            .stdout()
            .contains("\"Running\"")
    });
    assert_eq!(k(&["cancel", &id]).code(), 0);
    assert_eq!(k(&["wait", &id]).code(), 130);
    let show = k(&["show", &id]).stdout();
    assert!(show.contains("history:"), "{show}");
    for j in e.ls() {
        k(&["rm", "--force", j["job_id"].as_str().unwrap_or_default()]);
    }
}
