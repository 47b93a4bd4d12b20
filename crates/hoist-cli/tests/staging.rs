//! Data staging end to end: the runner inside real jobs (local processes and Docker
//! containers) against the real S3 server of scripts/testbed.sh. SLURM's variant lives in
//! slurm.rs, next to its cluster lock.

mod harness;
use harness::docker::IMG;
use harness::*;

/// `hoist` with the S3 credentials a user would export.
fn s3cmd(e: &Env, args: &[&str]) -> std::process::Command {
    let mut c = e.cmd(args);
    s3::env(&mut c);
    c
}

fn s3run(e: &Env, args: &[&str]) -> Out {
    Out(s3cmd(e, args).output().expect("hoist"))
}

fn why_rule(e: &Env, id: &str) -> (String, String) {
    let w = e.run(&["why", id, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&w.stdout()).expect("why json");
    (
        v["err_class"].as_str().unwrap_or_default().to_string(),
        v["rule"].as_str().unwrap_or_default().to_string(),
    )
}

/// The job id `hoist run` printed on its first stderr line.
fn job_of(o: &Out) -> String {
    let line = o
        .stderr()
        .lines()
        .find(|l| l.contains(" submitted on "))
        .map(str::to_string);
    line.and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        .expect("a submitted line")
}

#[test]
fn docker_config_mode_fetches_rewrites_runs_and_uploads() {
    let e = Env::new();
    let b = s3::bucket();
    s3::put(&b, "ds/train.json", b"{\"rows\": 3}\n");
    s3::put(&b, "ds/sub/more.txt", b"more rows\n");
    s3::put(&b, "single.txt", b"a single file\n");
    s3::put(
        &b,
        "data.tgz",
        &s3::tgz(&[("data/a.txt", b"from the archive\n")]),
    );
    let spec = e.path("spec.yaml");
    std::fs::write(
        &spec,
        format!(
            "dataset:\n  train_dir: s3://{b}/ds/\n  files:\n    - path: s3://{b}/single.txt\n  archive: s3://{b}/data.tgz\ntrain:\n  epochs: 2\n  results_dir: \"\"\n"
        ),
    )
    .expect("spec");
    // Reads every rewritten path, then writes into the routed output directory.
    let script = r#"set -e
s={config_path}
cat "$(sed -n 's/^  train_dir: //p' $s)/train.json"
cat "$(sed -n 's/^  train_dir: //p' $s)/sub/more.txt"
cat "$(sed -n 's/^  - path: //p' $s)"
cat "$(sed -n 's/^  archive: //p' $s)/a.txt"
echo trained > "$(sed -n 's/^  results_dir: //p' $s)/w.txt""#;
    let o = Out(s3cmd(
        &e,
        &[
            "run",
            "--platform",
            "docker",
            "--image",
            IMG,
            "--network",
            "host",
            "--rm",
            "--spec",
            spec.to_str().expect("utf8"),
            "-o",
            "train.results_dir",
            "-e",
            &format!("S3_BUCKET_NAME={b}"),
            "--",
            script,
        ],
    )
    .output()
    .expect("hoist"));
    assert_eq!(o.code(), 0, "{}\n{}", o.stdout(), o.stderr());
    let out = o.stdout();
    for want in [
        "{\"rows\": 3}",
        "more rows",
        "a single file",
        "from the archive",
    ] {
        assert!(
            out.contains(want),
            "{want:?} missing from the job's output:\n{out}"
        );
    }
    let id = e.ls()[0]["job_id"].as_str().expect("id").to_string();
    let short = job_of(&o);
    assert!(id.starts_with(&short));
    // Results went to s3://<bucket>/results/<job_id>/: the spec as written, and the output.
    let written =
        String::from_utf8(s3::get(&b, &format!("results/{id}/spec.yaml")).expect("spec uploaded"))
            .expect("utf8");
    assert!(
        !written.contains("s3://"),
        "remote URIs are rewritten:\n{written}"
    );
    assert!(written.contains("epochs: 2"), "{written}");
    assert!(
        written.contains(&format!("results_dir: /results/{id}/train_results_dir")),
        "{written}"
    );
    assert_eq!(
        s3::get(&b, &format!("results/{id}/train_results_dir/w.txt")).as_deref(),
        Some(&b"trained\n"[..])
    );
    let r = s3run(&e, &["results", &id]);
    assert_eq!(r.stdout().trim(), format!("s3://{b}/results/{id}/"));
    let dl = e.path("dl");
    let r = s3run(
        &e,
        &["results", &id, "--download", dl.to_str().expect("utf8")],
    );
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(
        std::fs::read(dl.join("train_results_dir/w.txt")).expect("downloaded"),
        b"trained\n"
    );
    // The runner came from a volume filled once for this binary, not copied per job.
    let sum = std::process::Command::new("sha256sum")
        .arg(bin())
        .output()
        .expect("sha256sum");
    let vol = format!(
        "hoist-runner-{}",
        &String::from_utf8_lossy(&sum.stdout)[..16]
    );
    let o = std::process::Command::new("docker")
        .args([
            "volume",
            "inspect",
            "-f",
            "{{index .Labels \"hoist.managed\"}}",
            &vol,
        ])
        .output()
        .expect("docker");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "true",
        "{vol}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The store and the runner's plan never hold a credential.
    for (p, bytes) in all_bytes(&e.home()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(s3::SECRET),
            "secret in {}",
            p.display()
        );
    }
}

#[test]
fn local_args_passthrough_and_toml() {
    let e = Env::new();
    let b = s3::bucket();
    s3::put(&b, "x.txt", b"payload\n");
    // Args mode: a remote value is fetched and the flag points at the local copy.
    let o = s3run(
        &e,
        &[
            "run",
            "--arg",
            "epochs=3",
            "--arg",
            &format!("data=s3://{b}/x.txt"),
            "--arg",
            "amp=true",
            "--",
            "sh",
            "-c",
            "echo ARGS \"$@\"; cat \"$3\"",
            "sh",
        ],
    );
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let out = o.stdout();
    assert!(out.contains("ARGS --amp --data /"), "{out}");
    assert!(out.contains("--epochs 3"), "{out}");
    assert!(out.contains("payload"), "{out}");

    // Passthrough: inputs at the paths named, outputs uploaded minus excluded files.
    let inp = e.path("in/train.txt");
    let outd = e.path("out");
    let o = s3run(
        &e,
        &[
            "run",
            "-i",
            &format!("{}=s3://{b}/x.txt", inp.display()),
            "-o",
            &format!("{}=s3://{b}/kept/", outd.display()),
            "--upload-exclude",
            "*.tmp",
            "--",
            "sh",
            "-c",
            &format!(
                "mkdir -p {o} && cp {i} {o}/copy.txt && echo scratch > {o}/junk.tmp",
                i = inp.display(),
                o = outd.display()
            ),
        ],
    );
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert_eq!(
        s3::get(&b, "kept/copy.txt").as_deref(),
        Some(&b"payload\n"[..])
    );
    assert_eq!(s3::get(&b, "kept/junk.tmp"), None, "excluded by glob");

    // Config mode written as TOML, with a list element rewritten in place.
    let spec = e.path("s.toml");
    std::fs::write(
        &spec,
        format!(
            "[model]\nname = \"m\"\n[[data]]\nuri = \"s3://{b}/x.txt\"\n[[data]]\nuri = \"keep\"\n"
        ),
    )
    .expect("spec");
    let o = s3run(
        &e,
        &[
            "run",
            "--spec",
            spec.to_str().expect("utf8"),
            "--",
            "cat",
            "{config_path}",
        ],
    );
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let shown: String = o
        .stdout()
        .lines()
        .filter(|l| !l.starts_with("hoist-runner:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let written: toml::Value = toml::from_str(&shown).expect("the job saw TOML");
    let uris: Vec<&str> = written["data"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["uri"].as_str())
        .collect();
    assert!(
        uris[0].starts_with('/') && uris[0].ends_with("x.txt"),
        "{uris:?}"
    );
    assert_eq!(uris[1], "keep");
    assert_eq!(written["model"]["name"].as_str(), Some("m"));
}

#[test]
fn bad_inputs_are_refused_before_anything_runs() {
    let e = Env::new();
    let b = s3::bucket();
    s3::put(&b, "real.txt", b"x");
    // A missing object: refused at submit, nothing stored.
    let o = s3run(
        &e,
        &[
            "run",
            "-i",
            &format!("/data/x=s3://{b}/nope.json"),
            "--",
            "true",
        ],
    );
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr()
            .contains(&format!("s3://{b}/nope.json does not exist")),
        "{}",
        o.stderr()
    );
    assert!(e.ls().is_empty());
    // Wrong credentials: the store's refusal, named as such.
    let o = Out(s3cmd(
        &e,
        &[
            "run",
            "-i",
            &format!("/data/x=s3://{b}/real.txt"),
            "--",
            "true",
        ],
    )
    .env("SECRET_KEY", "wrong-secret")
    .output()
    .expect("hoist"));
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(o.stderr().contains("access refused"), "{}", o.stderr());
    assert!(
        !o.stderr().contains("wrong-secret"),
        "a secret is never printed"
    );
    // Malformed URIs.
    for (uri, why) in [
        ("s3://ab/k", "at least 3 characters"),
        ("gs://b/k", "unknown scheme"),
    ] {
        let o = s3run(&e, &["run", "-i", &format!("/data/x={uri}"), "--", "true"]);
        assert_eq!(o.code(), 2, "{uri}: {}", o.stderr());
        assert!(o.stderr().contains(why), "{uri}: {}", o.stderr());
    }
    // Flat dotted keys in a spec are reported, not written.
    let spec = e.path("flat.yaml");
    std::fs::write(&spec, "dataset.train: s3://bkt/a\n").expect("spec");
    let o = s3run(
        &e,
        &["run", "--spec", spec.to_str().expect("utf8"), "--", "true"],
    );
    assert_eq!(o.code(), 2);
    assert!(o.stderr().contains("flat dotted keys"), "{}", o.stderr());
    assert!(e.ls().is_empty());
}

#[test]
fn runner_failures_are_explained() {
    let e = Env::new();
    let b = s3::bucket();
    let escape = e.path("escaped.txt");
    // `../../…` climbs from the extraction directory to the test's directory.
    s3::put(
        &b,
        "evil.tgz",
        &s3::tgz(&[
            ("ok.txt", b"fine"),
            ("../../../../../../escaped.txt", b"bad"),
        ]),
    );
    let marker = e.path("ran");
    let o = s3run(
        &e,
        &[
            "run",
            "--arg",
            &format!("data=s3://{b}/evil.tgz"),
            "--",
            "touch",
            marker.to_str().expect("utf8"),
        ],
    );
    assert_eq!(o.code(), 66, "{}", o.stderr());
    // A local job's stderr (the runner's lines included) is part of its output.
    assert!(o.stdout().contains("would land outside"), "{}", o.stdout());
    assert!(!marker.exists(), "the command never ran");
    assert!(!escape.exists());
    let id = e.ls()[0]["job_id"].as_str().expect("id").to_string();
    assert_eq!(
        why_rule(&e, &id),
        ("ERR_CONFIG".into(), "log:unsafe_archive".into())
    );

    // An upload that fails (the store is unreachable when the job ends): reported as such;
    // the command's success does not hide it.
    let outd = e.path("o");
    let o = Out(s3cmd(
        &e,
        &[
            "run",
            "-o",
            &format!("{}=s3://{b}/out/", outd.display()),
            "--",
            "sh",
            "-c",
            &format!("mkdir -p {0} && echo r > {0}/r.txt", outd.display()),
        ],
    )
    .env("S3_ENDPOINT_URL", "http://127.0.0.1:1")
    .output()
    .expect("hoist"));
    assert_eq!(o.code(), 74, "{}", o.stderr());
    assert!(o.stdout().contains("upload failed"), "{}", o.stdout());
    let id = e.ls()[0]["job_id"].as_str().expect("id").to_string();
    assert_eq!(
        why_rule(&e, &id),
        ("ERR_INFRA".into(), "log:upload_failed".into())
    );

    // An input gone between submit and start: the runner stops before the command.
    let plan = e.path("plan.json");
    std::fs::write(
        &plan,
        serde_json::json!({
            "job_id": "j1", "mode": "passthrough", "command": {"argv": ["touch", marker.to_str()]},
            "shell": null, "spec": null, "spec_format": "yaml", "args": {},
            "inputs": [{"key": e.path("in.json").to_str(), "uri": format!("s3://{b}/gone.json")}],
            "outputs": [], "upload_excludes": []
        })
        .to_string(),
    )
    .expect("plan");
    let o = Out(
        s3cmd(&e, &["__run", "--plan", plan.to_str().expect("utf8")])
            .env("TAO_RESULTS_ROOT", e.path("results"))
            .output()
            .expect("runner"),
    );
    assert_eq!(o.code(), 66, "{}", o.stderr());
    assert!(
        o.stderr().contains(&format!(
            "hoist-runner: input {} (s3://{b}/gone.json): s3://{b}/gone.json does not exist",
            e.path("in.json").display()
        )),
        "{}",
        o.stderr()
    );
    assert!(!marker.exists());
}

#[test]
fn paths_are_checked_and_listed() {
    let e = Env::new();
    let b = s3::bucket();
    s3::put(&b, "coco/train/a.jpg", b"a");
    s3::put(&b, "coco/labels.json", b"{}");
    let o = s3run(&e, &["ls-path", &format!("s3://{b}/coco/")]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert_eq!(
        o.stdout(),
        format!("s3://{b}/coco/labels.json\ns3://{b}/coco/train/\n")
    );
    assert_eq!(
        s3run(&e, &["check-path", &format!("s3://{b}/coco")]).code(),
        0
    );
    assert_eq!(
        s3run(&e, &["check-path", &format!("s3://{b}/coco/labels.json")]).code(),
        0
    );
    let o = s3run(&e, &["check-path", &format!("s3://{b}/nope"), "--json"]);
    assert_eq!(
        (o.code(), o.stdout().trim()),
        (
            1,
            format!("{{\"exists\":false,\"uri\":\"s3://{b}/nope\"}}").as_str()
        )
    );
    let o = s3run(&e, &["ls-path", e.dir.path().to_str().expect("utf8")]);
    assert!(
        o.stdout()
            .lines()
            .any(|l| l.trim_end_matches('/').ends_with("/home")),
        "{}",
        o.stdout()
    );
}

/// The Hub and NGC cannot run here: recorded responses in their API shapes on loopback
/// (HF_ENDPOINT, NGC_ENDPOINT, NGC_AUTH_ENDPOINT), the runner in a real local job.
#[test]
fn hub_and_ngc_models_are_fetched_and_the_spec_points_at_the_weights() {
    use fake_http::header;
    let srv = fake_http::start(Box::new(|_m, path, h| {
        let json = |v: serde_json::Value| {
            (
                200,
                vec![("Content-Type".into(), "application/json".into())],
                v.to_string().into_bytes(),
            )
        };
        let hf_ok = header(h, "authorization") == Some("Bearer hf-test-token");
        let ngc_ok = header(h, "authorization") == Some("Bearer ngc-session");
        let hf_path = path.starts_with("/api/")
            || path.starts_with("/acme/")
            || path.starts_with("/datasets/");
        if hf_path && !hf_ok {
            // What the Hub says to a token it does not know, on any repository.
            return (
                401,
                vec![],
                b"{\"error\":\"Invalid credentials in Authorization header\"}".to_vec(),
            );
        }
        match path {
            "/api/models/acme/tiny/revision/v1" if hf_ok => json(serde_json::json!({
                "id": "acme/tiny", "sha": "0123abcd",
                "siblings": [{"rfilename": "config.json"}, {"rfilename": "weights/model.ckpt"}]
            })),
            "/acme/tiny/resolve/v1/config.json" if hf_ok => {
                (200, vec![], b"{\"hidden\": 8}".to_vec())
            }
            "/acme/tiny/resolve/v1/weights/model.ckpt" if hf_ok => (200, vec![], b"CKPT".to_vec()),
            "/api/datasets/acme/set/revision/main" if hf_ok => json(
                serde_json::json!({"id": "acme/set", "siblings": [{"rfilename": "train.csv"}]}),
            ),
            "/datasets/acme/set/resolve/main/train.csv" if hf_ok => {
                (200, vec![], b"a,b\n1,2\n".to_vec())
            }
            // NGC: an API key buys a bearer token; the file URL redirects to storage.
            p if p.starts_with("/token?service=ngc&scope=group%2Fngc%3Anvidia") => {
                // base64("$oauthtoken:ngc-test-key")
                if header(h, "authorization") == Some("Basic JG9hdXRodG9rZW46bmdjLXRlc3Qta2V5") {
                    json(serde_json::json!({"token": "ngc-session", "expires_in": 300}))
                } else {
                    (401, vec![], b"{}".to_vec())
                }
            }
            "/v2/models/nvidia/tao/resnet18/versions/1.0/files" if ngc_ok => {
                json(serde_json::json!({
                    "modelFiles": [{"path": "resnet18.tlt", "sizeInBytes": 3}, {"path": "README.txt", "sizeInBytes": 2}],
                    "paginationInfo": {"index": 0, "size": 25, "totalPages": 1, "totalResults": 2}
                }))
            }
            "/v2/models/nvidia/tao/resnet18/versions/1.0/files/resnet18.tlt" if ngc_ok => (
                302,
                vec![("Location".into(), "/storage/resnet18.tlt?sig=x".into())],
                vec![],
            ),
            "/v2/models/nvidia/tao/resnet18/versions/1.0/files/README.txt" if ngc_ok => {
                (200, vec![], b"hi".to_vec())
            }
            "/storage/resnet18.tlt?sig=x" => (200, vec![], b"TLT".to_vec()),
            _ => (404, vec![], b"{\"error\":\"not found\"}".to_vec()),
        }
    }));
    let e = Env::new();
    let spec = e.path("spec.yaml");
    std::fs::write(&spec, "model:\n  pretrained: hf_model://acme/tiny@v1\n  backbone: ngc://nvidia/tao/resnet18:1.0\ndata:\n  train: hf_dataset://acme/set\n").expect("spec");
    let run = |token: &str| {
        Out(e.cmd(&["run", "--spec", spec.to_str().expect("utf8"), "--", "sh", "-c",
            "cat {config_path}; cat $(sed -n 's/^  pretrained: //p' {config_path}) $(sed -n 's/^  backbone: //p' {config_path}) $(sed -n 's/^  train: //p' {config_path})/train.csv"])
            .env("HF_ENDPOINT", &srv.url)
            .env("HF_TOKEN", token)
            .env("NGC_ENDPOINT", &srv.url)
            .env("NGC_AUTH_ENDPOINT", &srv.url)
            .env("NGC_KEY", "ngc-test-key")
            .output()
            .expect("hoist"))
    };
    // A wrong token is the Hub's refusal, found before the job is queued.
    let o = run("wrong-token");
    assert_eq!(o.code(), 2, "{}{}", o.stdout(), o.stderr());
    assert!(
        o.stderr().contains("access refused (HTTP 401"),
        "{}",
        o.stderr()
    );
    assert!(!o.stderr().contains("wrong-token"));
    let o = run("hf-test-token");
    assert_eq!(
        o.code(),
        0,
        "{}{}{:?}",
        o.stdout(),
        o.stderr(),
        srv.seen.lock().expect("seen")
    );
    let out = o.stdout();
    // Models are addressed by their weights file (TAO's rule), datasets by their directory.
    assert!(
        out.contains("/weights/model.ckpt\n") && out.contains("/resnet18.tlt\n"),
        "{out}"
    );
    assert!(out.contains("CKPTTLTa,b\n1,2"), "{out}");
    let job_own: String = out
        .lines()
        .filter(|l| !l.starts_with("hoist-runner:"))
        .collect();
    assert!(
        !job_own.contains("hf_model://") && !job_own.contains("ngc://"),
        "{out}"
    );
    let seen = srv.seen.lock().expect("seen").clone();
    assert!(
        seen.iter()
            .any(|r| r.starts_with("GET /storage/resnet18.tlt")),
        "{seen:?}"
    );
}

/// Opt-in: the real Hugging Face Hub (HOIST_HF_E2E=1; needs internet).
#[test]
fn live_hugging_face_hub() {
    if std::env::var("HOIST_HF_E2E").is_err() {
        eprintln!(
            "live_hugging_face_hub: not run (set HOIST_HF_E2E=1 to fetch from huggingface.co)"
        );
        return;
    }
    let e = Env::new();
    let uri = "hf_model://hf-internal-testing/tiny-random-bert";
    assert_eq!(e.run(&["check-path", uri]).code(), 0);
    let o = e.run(&["ls-path", uri]);
    assert!(o.stdout().contains("config.json"), "{}", o.stdout());
    let o = e.run(&[
        "run",
        "-i",
        &format!("{}={uri}", e.path("m").display()),
        "--",
        "ls",
        e.path("m").to_str().expect("utf8"),
    ]);
    assert_eq!(o.code(), 0, "{}{}", o.stdout(), o.stderr());
    assert!(o.stdout().contains("config.json"), "{}", o.stdout());
}
