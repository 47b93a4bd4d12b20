//! `--dry-run` on Kubernetes prints a YAML stream meant to be piped into `kubectl apply -f -`.
//! These read the stream back the way a YAML reader would, so a document that would not apply
//! (missing kind, reordered objects, a number where a string belongs, a leaked secret) fails
//! here rather than on someone's cluster.

use hoist_core::{Command, GpuSpec, JobSpec, SubmitRequest};
use hoist_kube::KubeOptions;
use hoist_kube::manifest::{
    ManifestSettings, dry_run_objects, owned_by, redacted, render, to_yaml_stream,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use serde_json::Value;
use std::collections::BTreeMap;

const SECRET: &str = "nvapi-s3cr3t-do-not-print";

/// Env values a YAML 1.1 reader (kubectl's) would turn into numbers, booleans, nulls or dates
/// if they were written unquoted.
const TRICKY: &[(&str, &str)] = &[
    ("OMP_NUM_THREADS", "1"),
    ("LR", "0.1"),
    ("USE_AMP", "true"),
    ("VERBOSE", "yes"),
    ("FLAG_OFF", "off"),
    ("HEX", "0x10"),
    ("OCTAL", "010"),
    ("SEXAGESIMAL", "1:20"),
    ("BIG", "1e3"),
    ("UNDERSCORED", "1_000"),
    ("NOTHING", "null"),
    ("TILDE", "~"),
    ("DAY", "2024-05-01"),
    ("EMPTY", ""),
    ("MARKER", "---"),
    ("SCRIPT", "line one\n---\nline: three  "),
];

fn req(nodes: u32, with_secret: bool) -> SubmitRequest {
    let mut spec = JobSpec::new(Command::Shell(
        "python train.py --lr 0.1 && echo done".into(),
    ));
    spec.image = Some("nvcr.io/nvidia/pytorch:24.05-py3".into());
    spec.nodes = nodes;
    spec.gpus = GpuSpec::Count(8);
    spec.cpus = Some(7.5);
    spec.memory_bytes = Some(64 << 30);
    spec.labels = BTreeMap::from([
        ("team".to_string(), "vision ml".to_string()),
        ("cost-center".to_string(), "1234".to_string()),
        ("preemptible".to_string(), "true".to_string()),
    ]);
    let opts = KubeOptions {
        node_selector: BTreeMap::from([("gpu-count".to_string(), "8".to_string())]),
        tolerations: vec!["nvidia.com/gpu:NoSchedule".into()],
        ..Default::default()
    };
    spec.platform_options.insert(
        "kubernetes".into(),
        serde_json::to_value(opts).expect("options"),
    );
    let mut env: BTreeMap<String, String> = TRICKY
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if with_secret {
        env.insert("NGC_KEY".into(), SECRET.into());
    }
    SubmitRequest {
        job_id: "0b5e7f2a-1111-4222-8333-944455556666".into(),
        launch_token: "tok-1".into(),
        spec,
        env,
        runner: None,
        runner_binary: None,
    }
}

fn settings() -> ManifestSettings {
    ManifestSettings {
        namespace: "ml".into(),
        runner_image: None,
        ttl_seconds: 3600,
        ..Default::default()
    }
}

/// The stream as `kubectl apply` splits it: on `---` lines, each piece one YAML document.
fn parse(stream: &str) -> Vec<Value> {
    assert!(!stream.starts_with("---"), "no empty first document");
    stream
        .split("\n---\n")
        .map(|doc| {
            let v: Value = serde_saphyr::from_str(doc).expect("each document parses as YAML");
            assert!(v.is_object(), "each document is a mapping: {doc}");
            v
        })
        .collect()
}

fn stream_for(nodes: u32, with_secret: bool) -> (String, Vec<Value>) {
    let m = render(&req(nodes, with_secret), &settings()).expect("render");
    let objects = dry_run_objects(&m);
    let stream = to_yaml_stream(&objects);
    let docs = parse(&stream);
    assert_eq!(docs, objects, "the YAML reads back as exactly the objects");
    (stream, docs)
}

fn kinds(docs: &[Value]) -> Vec<(&str, &str)> {
    docs.iter()
        .map(|d| {
            (
                d["apiVersion"].as_str().expect("apiVersion"),
                d["kind"].as_str().expect("kind"),
            )
        })
        .collect()
}

fn env_of(job: &Value) -> BTreeMap<String, Value> {
    job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| {
            let name = e["name"].as_str().expect("name").to_string();
            (name, e.get("value").cloned().unwrap_or(Value::Null))
        })
        .collect()
}

#[test]
fn multi_node_is_secret_service_job_in_apply_order() {
    let (stream, docs) = stream_for(4, true);
    assert_eq!(
        kinds(&docs),
        [("v1", "Secret"), ("v1", "Service"), ("batch/v1", "Job")]
    );
    assert_eq!(stream.lines().filter(|l| *l == "---").count(), 2);
    for d in &docs {
        assert_eq!(d["metadata"]["namespace"], "ml");
        assert!(d.get("status").is_none(), "no status: {d}");
    }
    assert_eq!(docs[2]["spec"]["completionMode"], "Indexed");
    assert_eq!(docs[1]["spec"]["clusterIP"], "None");
}

#[test]
fn the_secret_value_is_never_printed() {
    let (stream, docs) = stream_for(4, true);
    assert!(!stream.contains(SECRET), "{stream}");
    assert!(!stream.contains("s3cr3t"), "{stream}");
    // Nor in a form kubectl would decode back to it.
    let m = render(&req(4, true), &settings()).expect("render");
    let b64 = serde_json::to_value(&m.secret).expect("json")["data"]["NGC_KEY"].clone();
    assert!(!stream.contains(b64.as_str().expect("base64")), "{stream}");
    // Masked exactly as `redacted` masks, so the two views agree.
    assert_eq!(docs[0]["data"], redacted(&m)["secret"]["data"]);
    assert_eq!(docs[0]["type"], "Opaque");
    // The Job reaches the value through the Secret, by name.
    let job = &docs[2];
    let key_ref = job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "NGC_KEY")
        .expect("NGC_KEY")["valueFrom"]["secretKeyRef"]
        .clone();
    assert_eq!(key_ref["name"], docs[0]["metadata"]["name"]);
}

#[test]
fn values_that_look_like_numbers_or_booleans_stay_strings() {
    let (_, docs) = stream_for(4, true);
    let env = env_of(&docs[2]);
    for (k, v) in TRICKY {
        assert_eq!(env.get(*k), Some(&Value::String(v.to_string())), "{k}");
    }
    assert_eq!(env["PYTHONNOUSERSITE"], "1");
    assert_eq!(env["MASTER_PORT"], "29500");
    let labels = &docs[2]["metadata"]["labels"];
    assert_eq!(labels["cost-center"], "1234");
    assert_eq!(labels["preemptible"], "true");
    assert_eq!(
        docs[2]["spec"]["template"]["spec"]["nodeSelector"]["gpu-count"],
        "8"
    );
    // Numbers the API wants as numbers stay numbers.
    assert_eq!(docs[2]["spec"]["completions"], 4);
    assert_eq!(docs[1]["spec"]["ports"][0]["port"], 29500);
}

#[test]
fn a_stream_kubectl_would_read() {
    let (stream, _) = stream_for(4, true);
    // Stricter than a YAML reader: the separators are bare lines, documents start at a key.
    for doc in stream.split("\n---\n") {
        assert!(
            doc.starts_with("apiVersion: "),
            "each document opens with apiVersion: {doc}"
        );
    }
    assert!(stream.ends_with('\n'));
    assert!(!stream.contains(": null"), "{stream}");
    assert!(!stream.contains("ownerReferences"), "{stream}");
    // `emptyDir: {}` is a value, not an absence: it must survive the cleanup.
    assert!(stream.contains("emptyDir:"), "{stream}");
}

#[test]
fn the_job_and_service_read_back_as_the_objects_submit_creates() {
    // Typed, so a field that came back with the wrong type or went missing fails here.
    let m = render(&req(4, true), &settings()).expect("render");
    let stream = to_yaml_stream(&dry_run_objects(&m));
    let docs: Vec<&str> = stream.split("\n---\n").collect();
    let service: Service = serde_saphyr::from_str(docs[1]).expect("Service");
    let job: Job = serde_saphyr::from_str(docs[2]).expect("Job");
    assert_eq!(Some(service), m.service);
    assert_eq!(job, m.job);
}

#[test]
fn string_data_is_masked_and_owner_references_dropped() {
    let mut m = render(&req(4, true), &settings()).expect("render");
    let secret = m.secret.as_mut().expect("secret");
    secret.string_data = Some(BTreeMap::from([("TOKEN".to_string(), SECRET.to_string())]));
    // What submit patches in after create; a dry run has no Job UID to point at.
    secret.metadata.owner_references =
        serde_json::from_value(owned_by("hoist-x", "uid-1")["metadata"]["ownerReferences"].clone())
            .expect("owner references");
    let stream = to_yaml_stream(&dry_run_objects(&m));
    assert!(!stream.contains(SECRET), "{stream}");
    assert!(!stream.contains("ownerReferences"), "{stream}");
    let docs = parse(&stream);
    assert_eq!(docs[0]["stringData"]["TOKEN"], "<secret>");
    assert!(!redacted(&m).to_string().contains(SECRET));
}

#[test]
fn single_node_is_secret_and_job_or_job_alone() {
    let (_, docs) = stream_for(1, true);
    assert_eq!(kinds(&docs), [("v1", "Secret"), ("batch/v1", "Job")]);
    let (stream, docs) = stream_for(1, false);
    assert_eq!(kinds(&docs), [("batch/v1", "Job")]);
    assert!(!stream.contains("\n---\n"));
}

#[test]
fn nothing_to_show_is_an_empty_stream() {
    assert_eq!(to_yaml_stream(&[]), "");
}

#[test]
fn the_pull_secret_reads_back_and_applies_before_the_job() {
    let env = hoist_core::MapEnv::of([
        ("NGC_KEY", SECRET),
        ("DOCKER_USERNAME", "someone-else"),
        ("DOCKER_PASSWORD", "not-for-nvcr"),
    ]);
    let mut s = settings();
    s.pull_login = hoist_kube::pull::PullLogin::for_image("nvcr.io/nvidia/pytorch:24.05-py3", &env);
    let m = render(&req(1, true), &s).expect("render");
    let objects = dry_run_objects(&m);
    let stream = to_yaml_stream(&objects);
    assert_eq!(
        parse(&stream),
        objects,
        "the YAML reads back as exactly the objects"
    );
    assert_eq!(
        kinds(&objects),
        [("v1", "Secret"), ("v1", "Secret"), ("batch/v1", "Job")]
    );
    let docs: Vec<&str> = stream.split("\n---\n").collect();
    let pull: k8s_openapi::api::core::v1::Secret =
        serde_saphyr::from_str(docs[1]).expect("a Secret");
    assert_eq!(
        pull.type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson")
    );
    let config: Value =
        serde_json::from_str(&pull.string_data.as_ref().expect("stringData")[".dockerconfigjson"])
            .expect("valid JSON, as the API server requires of this type");
    assert_eq!(
        config["auths"]["nvcr.io"],
        serde_json::json!({"username": "$oauthtoken", "password": "<redacted: from NGC_KEY>"})
    );
    assert!(
        !stream.contains(SECRET) && !stream.contains("not-for-nvcr"),
        "{stream}"
    );
}
