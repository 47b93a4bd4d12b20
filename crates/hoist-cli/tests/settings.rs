//! Settings owned by each platform: the one precedence (flag, env, profile, default) on every
//! platform, typo suggestions, `hoist platforms`, `hoist config show`, options on the wrong
//! platform, and a store written by the schema-2 hoist opening and working.

mod harness;

use harness::{Env, Out};
use serde_json::Value;

fn config(e: &Env, text: &str) {
    std::fs::create_dir_all(e.home()).expect("home");
    std::fs::write(e.home().join("config.toml"), text).expect("config");
}

/// `hoist config show --json` for `args`, with `env` set; the setting `key`'s value and source.
fn shown(e: &Env, args: &[&str], env: &[(&str, &str)], key: &str) -> (Value, Value) {
    let mut a = vec!["config", "show", "--json"];
    a.extend_from_slice(args);
    let mut c = e.cmd(&a);
    for name in [
        "DOCKER_NETWORK",
        "TAO_K8S_NAMESPACE",
        "SLURM_PARTITION",
        "HOIST_NVIDIA_SMI",
        "DOCKER_HOST",
    ] {
        c.env_remove(name);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let o = Out(c.output().expect("hoist"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let v: Value = serde_json::from_str(&o.stdout()).expect("json");
    let s = v["settings"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["key"] == key))
        .cloned()
        .unwrap_or_else(|| panic!("no setting {key} in {v}"));
    (s["value"].clone(), s["source"].clone())
}

fn src(kind: &str, name: &str) -> Value {
    serde_json::json!({"kind": kind, "name": name})
}

#[test]
fn flag_beats_env_beats_profile_beats_default_on_every_platform() {
    // (platform, key, flag, env var, profile key) for one setting of each platform.
    let table = [
        (
            "docker",
            "network",
            Some("--network"),
            Some("DOCKER_NETWORK"),
            "hoist_default",
        ),
        (
            "kubernetes",
            "namespace",
            Some("--namespace"),
            Some("TAO_K8S_NAMESPACE"),
            "default",
        ),
        (
            "slurm",
            "partition",
            Some("--partition"),
            Some("SLURM_PARTITION"),
            "",
        ),
        (
            "local",
            "nvidia_smi",
            None,
            Some("HOIST_NVIDIA_SMI"),
            "nvidia-smi",
        ),
    ];
    for (platform, key, flag, env_name, default) in table {
        let e = Env::new();
        config(
            &e,
            &format!("[profiles.p]\nplatform = \"{platform}\"\n{key} = \"from-profile\"\n"),
        );
        let base = ["--platform", platform];
        let with_profile = ["--platform", platform, "--profile", "p"];
        // default
        let (v, s) = shown(&e, &base, &[], key);
        if default.is_empty() {
            assert_eq!((v, s), (Value::Null, Value::Null), "{platform}.{key} unset");
        } else {
            let want = (Value::from(default), serde_json::json!({"kind": "default"}));
            assert_eq!((v, s), want, "{platform}.{key}");
        }
        // profile beats default
        let (v, s) = shown(&e, &with_profile, &[], key);
        assert_eq!(
            (v, s),
            (Value::from("from-profile"), src("profile", "p")),
            "{platform}"
        );
        // env beats profile
        let env_name = env_name.expect("env");
        let (v, s) = shown(&e, &with_profile, &[(env_name, "from-env")], key);
        assert_eq!(
            (v, s),
            (Value::from("from-env"), src("env", env_name)),
            "{platform}"
        );
        // flag beats env
        if let Some(flag) = flag {
            let mut args = with_profile.to_vec();
            args.extend([flag, "from-flag"]);
            let (v, s) = shown(&e, &args, &[(env_name, "from-env")], key);
            assert_eq!(
                (v, s),
                (Value::from("from-flag"), src("flag", flag)),
                "{platform}"
            );
        }
    }
}

#[test]
fn a_typo_in_a_profile_names_the_nearest_setting() {
    let e = Env::new();
    config(
        &e,
        "[profiles.gpu]\nplatform = \"slurm\"\npartiton = \"batch\"\n",
    );
    let o = e.run(&["run", "--profile", "gpu", "--", "true"]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr()
            .contains("unknown setting \"partiton\" for slurm; did you mean \"partition\"?"),
        "{}",
        o.stderr()
    );
    assert!(e.ls().is_empty(), "nothing stored");
    config(
        &e,
        "[profiles.gpu]\nplatform = \"slurm\"\ntime_hours = \"four\"\n",
    );
    let o = e.run(&["config", "show", "--profile", "gpu"]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr().contains("\"time_hours\"") && o.stderr().contains("expects a number"),
        "{}",
        o.stderr()
    );
}

#[test]
fn a_profile_for_a_platform_this_build_lacks_is_refused() {
    let e = Env::new();
    config(&e, "[profiles.cloud]\nplatform = \"runpod\"\n");
    let o = e.run(&["run", "--profile", "cloud", "--", "true"]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr().contains("\"cloud\"") && o.stderr().contains("\"runpod\""),
        "{}",
        o.stderr()
    );
}

#[test]
fn options_of_another_platform_are_refused_naming_both() {
    let e = Env::new();
    let o = e.run(&[
        "run",
        "--platform",
        "docker",
        "--image",
        "x",
        "--namespace",
        "ml",
        "--",
        "true",
    ]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(
        o.stderr()
            .contains("--namespace applies to the kubernetes platform, not docker"),
        "{}",
        o.stderr()
    );
    let o = e.run(&["run", "--platform", "slurm", "--rm", "--", "true"]);
    assert_eq!(o.code(), 2);
    assert!(
        o.stderr()
            .contains("--rm applies to the docker platform, not slurm")
    );
}

#[test]
fn platforms_json_describes_every_platform() {
    let e = Env::new();
    let o = e.run(&["platforms", "--json"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let v: Value = serde_json::from_str(&o.stdout()).expect("json");
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["local", "docker", "slurm", "kubernetes", "brev", "lepton"]
    );
    for p in v.as_array().expect("array") {
        assert!(p["summary"].as_str().is_some_and(|s| !s.is_empty()), "{p}");
        assert!(p["readiness"]["configured"].is_boolean(), "{p}");
        for s in p["settings"].as_array().expect("settings") {
            assert!(s["key"].is_string() && s["kind"].is_string() && s["doc"].is_string());
        }
    }
    let local = &v[0];
    assert_eq!(local["readiness"]["configured"], true);
    let k8s = &v[3];
    assert_eq!(k8s["aliases"], serde_json::json!(["k8s", "kube"]));
    let ns = k8s["settings"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["key"] == "namespace"))
        .expect("namespace");
    assert_eq!(ns["env"], serde_json::json!(["TAO_K8S_NAMESPACE"]));
    assert_eq!(ns["flag"], "--namespace");
    let one = e.run(&["platforms", "k8s"]);
    assert_eq!(one.code(), 0);
    assert!(one.stdout().starts_with("kubernetes"), "{}", one.stdout());
}

/// A copy of the store the schema-2 hoist wrote (tests/fixtures/store-v2).
fn fixture_home(e: &Env) {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v2");
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(e.home())
        .status()
        .expect("cp")
        .success();
    assert!(ok, "copy the fixture");
}

#[test]
fn a_store_written_by_the_schema_2_hoist_opens_and_every_verb_works() {
    let e = Env::new();
    fixture_home(&e);
    let jobs = e.ls();
    let names: Vec<&str> = jobs.iter().filter_map(|j| j["name"].as_str()).collect();
    assert_eq!(names, ["kubey", "slurmy", "dock", "boom", "hello"]);
    assert_eq!(e.status("hello"), "Complete");
    assert_eq!(e.run(&["logs", "hello"]).stdout(), "hello from v2\n");
    let why = e.run(&["why", "boom", "--json"]);
    assert_eq!(why.code(), 0, "{}", why.stderr());
    let w: Value = serde_json::from_str(&why.stdout()).expect("why json");
    assert_eq!(w["exit_code"], 3);
    assert!(w["err_class"].is_string(), "{w}");
    let show = |name: &str| -> Value {
        let o = e.run(&["show", name, "--json"]);
        assert_eq!(o.code(), 0, "{}", o.stderr());
        serde_json::from_str(&o.stdout()).expect("show json")
    };
    // Each job keeps only its own platform's options; what it pinned is in its own field.
    let dock = show("dock");
    let opts = dock["spec"]["platform_options"]
        .as_object()
        .expect("options");
    assert_eq!(opts.keys().collect::<Vec<_>>(), ["docker"]);
    assert_eq!(opts["docker"]["pull"], "never");
    assert_eq!(opts["docker"]["shm_size"], 67108864);
    assert_eq!(dock["pinned"]["host"], "unix:///var/run/docker.sock");
    let kubey = show("kubey");
    assert_eq!(
        kubey["spec"]["platform_options"]["kubernetes"]["node_selector"]["nvidia.com/gpu.product"],
        "H100"
    );
    assert_eq!(kubey["pinned"]["namespace"], "ml");
    let slurmy = show("slurmy");
    assert_eq!(
        slurmy["pinned"]["hosts"],
        serde_json::json!(["hoist-testbed-slurm"])
    );
    let boom = show("boom");
    assert_eq!(
        boom["spec"]["platform_options"]["local"]["grace_seconds"],
        30
    );
    let r = e.run(&["results", "hello"]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(r.stdout().contains("b58f98e9"), "{}", r.stdout());
    let pre = e.run(&["preflight"]);
    assert!(pre.stdout().contains("(schema 3)"), "{}", pre.stdout());
    assert_eq!(e.run(&["rm", "hello"]).code(), 0);
    assert_eq!(e.ls().len(), 4);
    // New jobs run next to the migrated ones.
    let o = e.run(&["run", "--", "echo", "after"]);
    assert_eq!(
        (o.code(), o.stdout()),
        (0, "after\n".to_string()),
        "{}",
        o.stderr()
    );
}
