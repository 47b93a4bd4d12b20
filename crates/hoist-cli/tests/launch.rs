//! `hoist launch task.yaml` on the testbed's real engines: task YAMLs written in SkyPilot's
//! style, run on the local platform and on Docker, a pipeline, the exit codes, a private
//! registry, validation messages.

mod harness;
use harness::docker::IMG;
use harness::*;
use serde_json::Value;

fn task(e: &Env, name: &str, yaml: &str) -> String {
    let p = e.path(name);
    std::fs::write(&p, yaml).expect("task file");
    p.display().to_string()
}

fn launch(e: &Env, args: &[&str]) -> Out {
    let mut a = vec!["launch"];
    a.extend_from_slice(args);
    let mut c = e.cmd(&a);
    c.current_dir(e.dir.path());
    Out(c.output().expect("hoist launch"))
}

#[test]
fn a_local_task_with_envs_setup_and_run() {
    let e = Env::new();
    std::fs::create_dir_all(e.path("code")).expect("workdir");
    std::fs::write(e.path("code/data.txt"), "from the workdir\n").expect("data");
    let f = task(
        &e,
        "hello.yaml",
        "name: hello\nworkdir: ./code\nenvs:\n  GREETING: hi there\n  EPOCHS: 3\n  FLAG: true\n  MODEL: null\nsetup: |\n  echo setup-ran > setup.out\nrun: |\n  echo \"$GREETING $EPOCHS $FLAG $MODEL\"\n  cat data.txt setup.out\n  echo nodes=$SKYPILOT_NUM_NODES rank=$SKYPILOT_NODE_RANK gpus=$SKYPILOT_NUM_GPUS_PER_NODE\n",
    );
    let o = launch(&e, &[&f, "--env", "MODEL=llama"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let out = o.stdout();
    assert!(
        out.contains("hi there 3 True llama"),
        "envs stringified as SkyPilot does: {out}"
    );
    assert!(
        out.contains("from the workdir") && out.contains("setup-ran"),
        "{out}"
    );
    assert!(out.contains("nodes=1 rank=0 gpus=0"), "{out}");
    // A required env not given: exit 2 with SkyPilot's words, nothing stored.
    let o = launch(&e, &[&f]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr().contains("Environment variable 'MODEL' is None"),
        "{}",
        o.stderr()
    );
    assert_eq!(e.ls().len(), 1);
}

#[test]
fn exit_codes_are_the_jobs_and_setup_failures_say_so() {
    let e = Env::new();
    let run_fails = task(&e, "r.yaml", "run: |\n  echo running\n  exit 7\n");
    let o = launch(&e, &[&run_fails]);
    assert_eq!(o.code(), 7, "{}", o.stderr());
    let setup_fails = task(&e, "s.yaml", "setup: exit 3\nrun: echo never\n");
    let o = launch(&e, &[&setup_fails]);
    assert_eq!(o.code(), 3, "{}", o.stderr());
    assert!(!o.stdout().contains("never"));
    let id = e.ls()[0]["job_id"].as_str().expect("id").to_string();
    let logs = e.run(&["logs", &id]);
    assert!(
        logs.stdout().contains("setup failed with exit code 3"),
        "{}",
        logs.stdout()
    );
}

#[test]
fn a_docker_task_whose_setup_writes_what_run_reads() {
    let e = Env::new();
    std::fs::create_dir_all(e.path("proj")).expect("workdir");
    std::fs::write(e.path("proj/train.sh"), "echo training with $LR\n").expect("script");
    let f = task(
        &e,
        "docker.yaml",
        &format!(
            "name: train\nworkdir: proj\nresources:\n  image_id: docker:{IMG}\nenvs:\n  LR: 0.1\nsetup: echo prepared > /tmp/setup-marker\nrun: |\n  cat /tmp/setup-marker\n  sh train.sh\n"
        ),
    );
    let o = launch(&e, &[&f]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(
        o.stdout().contains("prepared") && o.stdout().contains("training with 0.1"),
        "{}",
        o.stdout()
    );
    let j = &e.ls()[0];
    assert_eq!(j["platform"], "docker");
    let id = j["job_id"].as_str().expect("id");
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &format!("hoist-job-{id}")])
        .output();
}

#[test]
fn a_pipeline_runs_in_order_and_stops_at_a_failure() {
    let e = Env::new();
    let ok = task(
        &e,
        "p.yaml",
        "name: pipe\n---\nname: prepare\nrun: echo first\n---\nname: train\nrun: echo second\n",
    );
    let o = launch(&e, &[&ok]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let out = o.stdout();
    assert!(
        out.find("first") < out.find("second") && out.contains("second"),
        "{out}"
    );
    let jobs = e.ls();
    assert_eq!(jobs.len(), 2);
    let wf_of = |j: &Value| -> Value {
        let id = j["job_id"].as_str().expect("id");
        let v: Value =
            serde_json::from_str(&e.run(&["show", id, "--json"]).stdout()).expect("show");
        v["workflow_id"].clone()
    };
    let wf = wf_of(&jobs[0]);
    assert!(wf.is_string() && wf == wf_of(&jobs[1]), "{wf}");
    let bad = task(
        &e,
        "bad.yaml",
        "name: pipe2\n---\nname: a\nrun: exit 4\n---\nname: b\nrun: echo must-not-run\n",
    );
    let o = launch(&e, &[&bad]);
    assert_eq!(o.code(), 4, "{}", o.stderr());
    assert!(!o.stdout().contains("must-not-run"));
    assert!(
        o.stderr().contains("[b] not run: a ended Error"),
        "{}",
        o.stderr()
    );
    let dry = launch(&e, &[&ok, "--dry-run", "--json"]);
    let v: Value = serde_json::from_str(&dry.stdout()).expect("json");
    assert_eq!(v["kind"], "pipeline");
    assert_eq!(v["tasks"].as_array().map(Vec::len), Some(2));
}

#[test]
fn dry_run_json_is_the_normalized_task_with_secrets_masked() {
    let e = Env::new();
    let f = task(
        &e,
        "t.yaml",
        &format!(
            "name: n1\nnum_nodes: 1\nresources:\n  accelerators: {{A100: 2}}\n  image_id: docker:{IMG}\nenvs:\n  A: 1\nsecrets:\n  HF_TOKEN: hf_abc123secret\n  MY_PASSPHRASE: null\nrun: echo $A\n"
        ),
    );
    let o = launch(
        &e,
        &[
            &f,
            "--dry-run",
            "--json",
            "--secret",
            "MY_PASSPHRASE=pp-secret-999",
        ],
    );
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let v: Value = serde_json::from_str(&o.stdout()).expect("json");
    assert_eq!(v["docker_image"], IMG);
    assert_eq!(v["platform"], "docker");
    assert_eq!(v["envs"]["A"], "1");
    assert_eq!(v["envs"]["HF_TOKEN"], "<secret>");
    assert_eq!(v["envs"]["MY_PASSPHRASE"], "<secret>");
    assert!(!o.stdout().contains("hf_abc123secret") && !o.stdout().contains("pp-secret-999"));
    assert_eq!(v["accelerators"], serde_json::json!(["A100:2"]));
    // The platform's own form: the container request, secrets masked there too.
    let o = launch(
        &e,
        &[&f, "--dry-run", "--secret", "MY_PASSPHRASE=pp-secret-999"],
    );
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(
        o.stdout().contains("DeviceRequests") || o.stdout().contains("create"),
        "{}",
        o.stdout()
    );
    assert!(
        !o.stdout().contains("pp-secret-999") && !o.stdout().contains("hf_abc123secret"),
        "{}",
        o.stdout()
    );
}

#[test]
fn what_hoist_cannot_provision_is_refused_unless_a_platform_is_named() {
    let e = Env::new();
    let f = task(
        &e,
        "aws.yaml",
        "resources:\n  infra: aws/us-east-1\n  instance_type: p4d.24xlarge\n  use_spot: true\nrun: echo hi\n",
    );
    let o = launch(&e, &[&f]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr().contains("instance_type") && o.stderr().contains("--platform"),
        "{}",
        o.stderr()
    );
    let o = launch(&e, &[&f, "--platform", "local"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(o.stderr().contains("left aside"), "{}", o.stderr());
    assert!(o.stdout().contains("hi"));
    let k8s = task(&e, "k.yaml", "resources:\n  infra: k8s\nrun: echo hi\n");
    let dry = launch(&e, &[&k8s, "--dry-run", "--json"]);
    let v: Value = serde_json::from_str(&dry.stdout()).expect("json");
    assert_eq!(v["platform"], "kubernetes");
}

#[test]
fn validation_messages_are_skypilots() {
    let e = Env::new();
    let cases = [
        (
            "runn: echo\n",
            "Invalid task YAML: Instead of 'runn', did you mean 'run'?",
        ),
        (
            "foo: 1\nrun: echo\n",
            "Invalid task YAML: Found unsupported field 'foo'.",
        ),
        (
            "num_nodes: '2'\nrun: echo\n",
            "'2' is not of type 'integer'. Check problematic field(s): $.num_nodes",
        ),
        (
            "resources:\n  accelerator: A100\n",
            "Invalid resources YAML: Instead of 'accelerator', did you mean 'accelerators'?",
        ),
        ("run: [a, b]\n", "Check problematic field(s): $.run"),
        ("workdir: ./does-not-exist\nrun: echo\n", "does not exist"),
    ];
    for (i, (yaml, want)) in cases.iter().enumerate() {
        let f = task(&e, &format!("bad{i}.yaml"), yaml);
        let o = launch(&e, &[&f]);
        assert_eq!(o.code(), 2, "{yaml}: {}", o.stderr());
        assert!(o.stderr().contains(want), "{yaml}: {}", o.stderr());
    }
    let f = task(&e, "syntax.yaml", "run: echo\n  bad: [\n");
    let o = launch(&e, &[&f]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(o.stderr().contains("line"), "{}", o.stderr());
    assert!(e.ls().is_empty(), "nothing stored");
}

#[test]
fn a_private_registry_login_from_the_task_with_a_command_password() {
    let e = Env::new();
    let f = task(
        &e,
        "reg.yaml",
        "resources:\n  image_id: docker:hoist/busybox:1\nenvs:\n  SKYPILOT_DOCKER_USERNAME: hoist\n  SKYPILOT_DOCKER_SERVER: 127.0.0.1:5000\nsecrets:\n  SKYPILOT_DOCKER_PASSWORD: null\nrun: echo pulled-from-the-registry\n",
    );
    let split = launch(&e, &[&f, "--secret", "SKYPILOT_DOCKER_PASSWORD=x"]);
    assert_eq!(split.code(), 2, "{}", split.stderr());
    assert!(
        split.stderr().contains("not split across both"),
        "{}",
        split.stderr()
    );
    let f = task(
        &e,
        "reg2.yaml",
        "resources:\n  image_id: docker:hoist/busybox:1\nenvs:\n  SKYPILOT_DOCKER_USERNAME: hoist\n  SKYPILOT_DOCKER_SERVER: 127.0.0.1:5000\n  SKYPILOT_DOCKER_PASSWORD: null\nrun: echo pulled-from-the-registry\n",
    );
    let cfg = e.path("docker-config");
    std::fs::create_dir_all(&cfg).expect("mkdir");
    let mut c = e.cmd(&[
        "launch",
        &f,
        "--env",
        "SKYPILOT_DOCKER_PASSWORD=$(printf hoist-registry-pass)",
    ]);
    harness::docker::without_registry_logins(&mut c)
        .current_dir(e.dir.path())
        .env("DOCKER_CONFIG", &cfg)
        .env("DOCKER_PULL_POLICY", "always");
    let o = Out(c.output().expect("hoist"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(o.stdout().contains("pulled-from-the-registry"));
    for (p, b) in all_bytes(&e.home()) {
        assert!(
            !String::from_utf8_lossy(&b).contains("hoist-registry-pass"),
            "password in {}",
            p.display()
        );
    }
    let id = e.ls()[0]["job_id"].as_str().expect("id").to_string();
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &format!("hoist-job-{id}")])
        .output();
}

#[test]
fn an_s3_file_mount_is_copied_before_the_task_runs() {
    let e = Env::new();
    let b = s3::bucket();
    s3::put(&b, "ds/rows.txt", b"three rows\n");
    let dst = e.path("mounted/rows.txt");
    let f = task(
        &e,
        "fm.yaml",
        &format!(
            "file_mounts:\n  {}: s3://{b}/ds/rows.txt\nrun: cat {}\n",
            dst.display(),
            dst.display()
        ),
    );
    let mut c = e.cmd(&["launch", &f]);
    c.current_dir(e.dir.path());
    s3::env(&mut c);
    let o = Out(c.output().expect("hoist"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(o.stdout().contains("three rows"), "{}", o.stdout());
    let mount = task(
        &e,
        "m.yaml",
        &format!(
            "file_mounts:\n  /data:\n    source: s3://{b}/ds\n    mode: MOUNT\nrun: ls /data\n"
        ),
    );
    let o = launch(&e, &[&mount]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(o.stderr().contains("mode: COPY"), "{}", o.stderr());
}

/// Containers as tasks: `docker run` inside `run` works where a daemon is at hand (the local
/// platform, this host's), is given the daemon's socket on Docker, and is refused at submit
/// where no daemon is (Kubernetes), instead of failing inside the job.
#[test]
fn a_task_that_runs_docker_itself() {
    let e = Env::new();
    let f = task(
        &e,
        "c.yaml",
        &format!("run: |\n  docker run --rm {IMG} echo container-as-task\n"),
    );
    let o = launch(&e, &[&f]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(o.stdout().contains("container-as-task"), "{}", o.stdout());

    let o = launch(&e, &[&f, "--platform", "kubernetes", "--dry-run"]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr()
            .contains("kubernetes jobs have no Docker daemon at hand")
            && o.stderr().contains("--platform local"),
        "{}",
        o.stderr()
    );

    let o = launch(
        &e,
        &[
            &f,
            "--platform",
            "docker",
            "--image-id",
            &format!("docker:{IMG}"),
            "--dry-run",
        ],
    );
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let out = o.stdout();
    assert!(
        out.contains("\"Source\": \"/var/run/docker.sock\"")
            && out.contains("\"Target\": \"/var/run/docker.sock\""),
        "{out}"
    );
    assert!(
        o.stderr().contains("daemon socket is mounted"),
        "{}",
        o.stderr()
    );
}

/// A task's GPU model reaches the platform: the SLURM script asks for it as a GRES type.
#[test]
fn accelerators_become_the_platforms_gpu_request() {
    let e = Env::new();
    let f = task(
        &e,
        "g.yaml",
        "resources:\n  infra: slurm\n  accelerators: H100:4\nrun: nvidia-smi\n",
    );
    let mut c = e.cmd(&["launch", &f, "--dry-run"]);
    c.current_dir(e.dir.path()).env("SLURM_HOSTNAME", "login1");
    let o = Out(c.output().expect("launch"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(
        o.stdout().contains("#SBATCH --gres=gpu:h100:4"),
        "{}",
        o.stdout()
    );
}

/// A Kubernetes task rendered to manifests: the registry login of the task becomes an image
/// pull Secret the pods use (SkyPilot has none), the accelerator a node affinity, two nodes an
/// indexed Job with SkyPilot's variables from hoist's rendezvous env; the password never shows.
#[test]
fn a_kubernetes_task_as_manifests_with_its_pull_secret() {
    let e = Env::new();
    let f = task(
        &e,
        "k.yaml",
        "name: k8s-train\nnum_nodes: 2\nresources:\n  infra: k8s\n  accelerators: A100:2\n  image_id: docker:team/trainer:1.2\nenvs:\n  SKYPILOT_DOCKER_USERNAME: robot\n  SKYPILOT_DOCKER_SERVER: registry.example.com\n  SKYPILOT_DOCKER_PASSWORD: reg-pw-5521\nrun: torchrun --nnodes $SKYPILOT_NUM_NODES train.py\n",
    );
    let mut c = e.cmd(&["launch", &f, "--dry-run"]);
    c.current_dir(e.dir.path())
        .env_remove("DOCKER_USERNAME")
        .env_remove("DOCKER_PASSWORD")
        .env_remove("DOCKER_SERVER");
    let o = Out(c.output().expect("launch"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let out = o.stdout();
    assert!(
        !out.contains("reg-pw-5521") && !o.stderr().contains("reg-pw-5521"),
        "{out}"
    );
    let docs: Vec<Value> = out
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).expect("a YAML document"))
        .collect();
    let pull = docs
        .iter()
        .find(|d| d["type"] == "kubernetes.io/dockerconfigjson")
        .unwrap_or_else(|| panic!("a pull Secret in\n{out}"));
    let job = docs.iter().find(|d| d["kind"] == "Job").expect("a Job");
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["imagePullSecrets"][0]["name"], pull["metadata"]["name"]);
    assert_eq!(
        pod["containers"][0]["image"],
        "registry.example.com/team/trainer:1.2"
    );
    assert_eq!(job["spec"]["completions"], 2);
    assert_eq!(
        pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"][0]["values"],
        serde_json::json!(["A100"])
    );
    let env = pod["containers"][0]["env"].as_array().expect("env");
    assert!(
        !env.iter().any(|v| v["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("SKYPILOT_DOCKER"))),
        "the login is the pull's, not the job's"
    );
}
