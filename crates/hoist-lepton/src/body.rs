//! From a hoist request to the job body `POST /jobs` takes, in the official client's shape.
//! Pure: what the API was asked (shapes, node groups, secrets) comes in as a [`Placement`],
//! so `--dry-run` shows exactly this.

use crate::settings::{LeptonOptions, Mount};
use hoist_core::SubmitRequest;
use hoist_core::spec::{Command, InputError, NODE_IPS_ENV, rendezvous_env, sh_quote_checked};
use hoist_core::staging::RUNNER_PLAN_ENV;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Where the job fetches the runner to (inside the job's container).
const RUNNER_DIR: &str = "/tmp/hoist-runner";

/// What resolving the request against the workspace decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// The resource shape id.
    pub shape: String,
    /// The node group's id, when the job is placed in one.
    pub node_group_id: Option<String>,
    /// Env name → the workspace secret holding its value.
    pub secret_refs: BTreeMap<String, String>,
    /// Image pull secrets.
    pub pull_secrets: Vec<String>,
    /// The pull secret hoist makes from the environment's registry login, when it makes one.
    pub made_pull_secret: Option<crate::pull::PullSecretRef>,
    /// Where the job fetches hoist's static runner (jobs that stage data), and its SHA-256.
    pub runner: Option<(String, String)>,
}

/// The Lepton id of a hoist job: its name made to fit Lepton's rule (≤ 36 characters,
/// `^[a-z][a-z0-9-]*$`, no trailing `-`) plus the first 8 characters of the hoist id, so two
/// jobs of one name never collide. Names are mapped, never refused.
pub fn lepton_id(name: &str, job_id: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    if !slug.starts_with(|c: char| c.is_ascii_lowercase()) {
        slug = if slug.is_empty() {
            "hoist".into()
        } else {
            format!("j-{slug}")
        };
    }
    let short: String = job_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    let room = 36 - 1 - short.len();
    let mut head: String = slug.chars().take(room).collect();
    while head.ends_with('-') {
        head.pop();
    }
    format!("{head}-{short}")
}

/// Worker `i`'s address as the job's shell spells it: the stable DNS name Lepton gives each
/// worker of a job with intra-job communication.
fn worker_host(i: u32) -> String {
    format!("${{LEPTON_JOB_WORKER_PREFIX:-worker}}-{i}.${{LEPTON_SUBDOMAIN}}")
}

fn literal(k: &str, v: &str) -> Value {
    json!({"name": k, "value": v})
}

/// The job body.
pub fn job_body(
    req: &SubmitRequest,
    opts: &LeptonOptions,
    place: &Placement,
) -> Result<Value, InputError> {
    let spec = &req.spec;
    let Some(image) = spec.image.clone() else {
        return Err(InputError::new(
            "the lepton platform needs an image",
            "add --image IMAGE (e.g. nvcr.io/nvidia/pytorch:25.08-py3)",
        ));
    };
    let nodes = spec.nodes.max(1);
    let gpus = spec.gpus.count().unwrap_or(0);
    let mounts: Vec<Mount> = opts
        .mounts
        .iter()
        .map(|m| m.parse())
        .collect::<Result<_, _>>()?;

    let mut envs: Vec<Value> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (k, v) in &req.env {
        let secret = spec.is_secret(k);
        if secret {
            let Some(s) = place.secret_refs.get(k) else {
                return Err(InputError::new(
                    format!("{k} is secret and no workspace secret holds it"),
                    "report this: hoist writes secrets to the workspace before the job",
                ));
            };
            envs.push(json!({"name": k, "value_from": {"secret_name_ref": s}}));
        } else {
            envs.push(literal(k, v));
        }
        names.push(k.clone());
    }
    let mut add = |k: &str, v: String, envs: &mut Vec<Value>| {
        if !names.iter().any(|n| n == k) {
            envs.push(literal(k, &v));
            names.push(k.to_string());
        }
    };
    add("TAO_JOB_ID", req.job_id.clone(), &mut envs);
    if let Some(m) = mounts.first() {
        // Results on the shared volume, as TAO's Lepton backend kept them.
        add(
            "TAO_RESULTS_ROOT",
            format!("{}/results", m.mount_path.trim_end_matches('/')),
            &mut envs,
        );
    }
    let mut prelude = String::new();
    if nodes > 1 {
        // Rank, master and the node list are the worker's own: read from Lepton's env when
        // the job starts (what lepton_env_to_pytorch.sh would set, without downloading it).
        for (k, v) in rendezvous_env(nodes, gpus, "", "") {
            if k != "NODE_RANK" && k != "MASTER_ADDR" {
                add(&k, v, &mut envs);
            }
        }
        prelude.push_str(&format!(
            "export NODE_RANK=\"${{LEPTON_JOB_WORKER_INDEX:-0}}\" MASTER_ADDR=\"{}\" {NODE_IPS_ENV}=\"$(printf '%s\\n' {})\"; ",
            worker_host(0),
            (0..nodes)
                .map(|i| format!("\"{}\"", worker_host(i)))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    } else if gpus > 1 {
        for (k, v) in rendezvous_env(1, gpus, "0", "localhost") {
            add(&k, v, &mut envs);
        }
    }

    let command: Vec<String> = match (&req.runner, &place.runner) {
        (Some(plan), Some((url, sha))) => {
            add(
                RUNNER_PLAN_ENV,
                serde_json::to_string(plan).map_err(|e| {
                    InputError::new(format!("cannot encode the runner plan: {e}"), "report this")
                })?,
                &mut envs,
            );
            add("HOIST_RUNNER_URL", url.clone(), &mut envs);
            let fetch = format!(
                "set -e; d={RUNNER_DIR}; mkdir -p \"$d\"; \
                 if command -v curl >/dev/null; then curl -fsSL \"$HOIST_RUNNER_URL\" -o \"$d/hoist\"; \
                 elif command -v wget >/dev/null; then wget -qO \"$d/hoist\" \"$HOIST_RUNNER_URL\"; \
                 else python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \"$HOIST_RUNNER_URL\" \"$d/hoist\"; fi; \
                 if command -v sha256sum >/dev/null; then echo '{sha}  '\"$d/hoist\" | sha256sum -c - >/dev/null; fi; \
                 chmod +x \"$d/hoist\"; exec \"$d/hoist\" __run"
            );
            vec!["/bin/sh".into(), "-c".into(), format!("{prelude}{fetch}")]
        }
        (Some(_), None) => {
            return Err(InputError::new(
                "this job stages data, and Lepton jobs need a place to fetch hoist's runner from",
                "give jobs S3_BUCKET_NAME with S3 credentials (hoist uploads the runner there once per version), or set HOIST_LEPTON_RUNNER_URL to where this hoist's static binary is served",
            ));
        }
        (None, _) => {
            let line = match &spec.command {
                Command::Shell(sh) => sh.clone(),
                Command::Argv(a) => a
                    .iter()
                    .map(|w| sh_quote_checked(w))
                    .collect::<Result<Vec<_>, _>>()?
                    .join(" "),
            };
            let shell = match spec.shell.as_deref() {
                None | Some("none") => "/bin/sh".to_string(),
                Some(s) => s.to_string(),
            };
            match (&spec.command, spec.shell.as_deref(), prelude.is_empty()) {
                // `--shell none` on one worker: the argv is the container's command.
                (Command::Argv(a), Some("none"), true) => a.clone(),
                _ => vec![shell, "-c".into(), format!("{prelude}{line}")],
            }
        }
    };

    let mut body_spec = json!({
        "resource_shape": place.shape,
        "container": {"image": image, "command": command},
        "completions": nodes,
        "parallelism": nodes,
        "max_failure_retry": opts.max_failure_retry.unwrap_or(0),
        "envs": envs,
        "mounts": mounts.iter().map(|m| json!({"path": m.path, "from": m.from, "mount_path": m.mount_path})).collect::<Vec<_>>(),
        "image_pull_secrets": place.pull_secrets,
        "ttl_seconds_after_finished": opts.ttl_seconds.unwrap_or(259_200),
        "log": {"enable_collection": true},
    });
    if let Some(ng) = &place.node_group_id {
        body_spec["affinity"] = json!({"allowed_dedicated_node_groups": [ng]});
    }
    if nodes > 1 {
        body_spec["intra_job_communication"] = Value::Bool(true);
    }
    Ok(json!({
        "metadata": {"id": lepton_id(&spec.name, &req.job_id), "name": spec.name, "visibility": "private"},
        "spec": body_spec,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::{GpuSpec, JobSpec};

    fn req(nodes: u32, gpus: u32) -> SubmitRequest {
        let mut spec = JobSpec::new(Command::Argv(vec![
            "python".into(),
            "train.py".into(),
            "a b".into(),
        ]));
        spec.name = "Train_Run #1".into();
        spec.image = Some("nvcr.io/nvidia/pytorch:25.08-py3".into());
        spec.nodes = nodes;
        spec.gpus = GpuSpec::Count(gpus);
        spec.set_env("FOO", Some("bar".into()));
        spec.set_env("HF_TOKEN", None);
        SubmitRequest {
            job_id: "1a2b3c4d-0000-4000-8000-000000000000".into(),
            launch_token: "t".into(),
            spec,
            env: BTreeMap::from([
                ("FOO".to_string(), "bar".to_string()),
                ("HF_TOKEN".to_string(), "hf_secret_value".to_string()),
            ]),
            runner: None,
            runner_binary: None,
        }
    }

    fn place() -> Placement {
        Placement {
            shape: "gpu.8xh100-sxm".into(),
            node_group_id: Some("ng-abc123".into()),
            secret_refs: BTreeMap::from([(
                "HF_TOKEN".to_string(),
                "hoist-1a2b3c4d-hf-token".to_string(),
            )]),
            pull_secrets: vec!["hoist-nvcr-io-0123abcd".into()],
            made_pull_secret: None,
            runner: None,
        }
    }

    #[test]
    fn ids_fit_leptons_rule() {
        let id = "1a2b3c4d-0000";
        assert_eq!(lepton_id("Train_Run #1", id), "train-run-1-1a2b3c4d");
        assert_eq!(lepton_id("", id), "hoist-1a2b3c4d");
        assert_eq!(lepton_id("7up", id), "j-7up-1a2b3c4d");
        let long = lepton_id(&"x".repeat(80), id);
        assert!(long.len() <= 36 && long.ends_with("-1a2b3c4d"), "{long}");
        for n in ["a--b", "-x-", "ÄÖ", "by-lepton", "a_b-"] {
            let l = lepton_id(n, id);
            assert!(
                l.len() <= 36 && l.starts_with(|c: char| c.is_ascii_lowercase()),
                "{l}"
            );
            assert!(
                l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            );
            assert!(!l.ends_with('-') && !l.ends_with("by-lepton"), "{l}");
        }
    }

    #[test]
    fn secrets_by_reference_and_the_multi_node_env() {
        let opts = LeptonOptions {
            mounts: vec!["lepton-shared-fs:/shared/me:/mnt/shared".into()],
            ..Default::default()
        };
        let b = job_body(&req(2, 8), &opts, &place()).expect("body");
        let text = b.to_string();
        assert!(
            !text.contains("hf_secret_value"),
            "a secret value is inline: {text}"
        );
        let envs = b["spec"]["envs"].as_array().expect("envs");
        let env = |k: &str| envs.iter().find(|e| e["name"] == k).cloned();
        assert_eq!(
            env("HF_TOKEN"),
            Some(
                json!({"name": "HF_TOKEN", "value_from": {"secret_name_ref": "hoist-1a2b3c4d-hf-token"}})
            )
        );
        assert_eq!(env("FOO").map(|e| e["value"].clone()), Some(json!("bar")));
        assert_eq!(
            env("WORLD_SIZE").map(|e| e["value"].clone()),
            Some(json!("2"))
        );
        assert_eq!(
            env("NUM_GPU_PER_NODE").map(|e| e["value"].clone()),
            Some(json!("8"))
        );
        assert_eq!(
            env("TAO_RESULTS_ROOT").map(|e| e["value"].clone()),
            Some(json!("/mnt/shared/results"))
        );
        assert!(env("NODE_RANK").is_none() && env("MASTER_ADDR").is_none());
        assert_eq!(b["spec"]["completions"], 2);
        assert_eq!(b["spec"]["parallelism"], 2);
        assert_eq!(b["spec"]["intra_job_communication"], true);
        assert_eq!(
            b["spec"]["affinity"],
            json!({"allowed_dedicated_node_groups": ["ng-abc123"]})
        );
        assert_eq!(
            b["spec"]["mounts"],
            json!([{"path": "/shared/me", "from": "node-nfs:lepton-shared-fs", "mount_path": "/mnt/shared"}])
        );
        let cmd = b["spec"]["container"]["command"].as_array().expect("cmd");
        assert_eq!(cmd[..2], [json!("/bin/sh"), json!("-c")]);
        let line = cmd[2].as_str().expect("line");
        assert!(line.contains("LEPTON_JOB_WORKER_INDEX") && line.contains("${LEPTON_SUBDOMAIN}"));
        assert!(line.ends_with("python train.py 'a b'"), "{line}");
        assert!(
            envs.iter().all(|e| e["name"] != NODE_IPS_ENV),
            "the node list is the worker's shell's, not a literal"
        );
        assert_eq!(
            b["spec"]["image_pull_secrets"],
            json!(["hoist-nvcr-io-0123abcd"])
        );
        assert_eq!(b["metadata"]["id"], "train-run-1-1a2b3c4d");
        assert_eq!(b["metadata"]["visibility"], "private");
        assert_eq!(b["spec"]["ttl_seconds_after_finished"], 259200);
        assert_eq!(b["spec"]["log"], json!({"enable_collection": true}));
    }

    #[test]
    fn one_worker_and_staging() {
        let b = job_body(
            &req(1, 1),
            &LeptonOptions::default(),
            &Placement {
                node_group_id: None,
                ..place()
            },
        )
        .expect("body");
        assert!(b["spec"].get("intra_job_communication").is_none());
        assert!(b["spec"].get("affinity").is_none());
        let mut r = req(1, 1);
        r.runner = hoist_core::staging::RunnerPlan::for_job(&r.job_id, &{
            let mut s = r.spec.clone();
            s.args.insert("epochs".into(), json!(2));
            s.mode = hoist_core::spec::EntryMode::Args;
            s
        });
        assert!(r.runner.is_some());
        let e = job_body(&r, &LeptonOptions::default(), &place()).expect_err("no runner url");
        assert!(e.hint.contains("S3_BUCKET_NAME") && e.hint.contains("HOIST_LEPTON_RUNNER_URL"));
        let with = Placement {
            runner: Some(("https://example.invalid/hoist".into(), "ab".repeat(32))),
            ..place()
        };
        let b = job_body(&r, &LeptonOptions::default(), &with).expect("staged");
        let line = b["spec"]["container"]["command"][2].as_str().expect("line");
        assert!(
            line.contains("__run") && line.contains(&"ab".repeat(32)),
            "{line}"
        );
        let envs = b["spec"]["envs"].to_string();
        assert!(envs.contains(RUNNER_PLAN_ENV) && envs.contains("HOIST_RUNNER_URL"));
    }

    /// What the job's shell makes of the prelude, as worker `rank` of the job `b`.
    fn run_as_worker(b: &Value, rank: &str, script: &str) -> String {
        let cmd = b["spec"]["container"]["command"].as_array().expect("cmd");
        let line = cmd[2].as_str().expect("line");
        let prelude = &line[..line.find("; ").expect("prelude") + 2];
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .env_clear()
            .env("LEPTON_JOB_WORKER_INDEX", rank)
            .env("LEPTON_JOB_WORKER_PREFIX", "trainer")
            .env("LEPTON_SUBDOMAIN", "job-svc")
            .output()
            .expect("/bin/sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn every_worker_sees_every_workers_address_in_rank_order() {
        let b = job_body(&req(3, 8), &LeptonOptions::default(), &place()).expect("body");
        let ips = run_as_worker(
            &b,
            "2",
            &format!("printf '%s|' \"${NODE_IPS_ENV}\"; echo \"$NODE_RANK $MASTER_ADDR\""),
        );
        assert_eq!(
            ips,
            "trainer-0.job-svc\ntrainer-1.job-svc\ntrainer-2.job-svc|2 trainer-0.job-svc\n"
        );
        // One worker has no peers to list.
        let one = job_body(&req(1, 8), &LeptonOptions::default(), &place()).expect("body");
        assert!(!one.to_string().contains(NODE_IPS_ENV), "{one}");
    }
}
