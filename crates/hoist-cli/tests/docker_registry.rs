//! Private registries on the docker platform: each kind of credential against the testbed's
//! registry, and a refused pull told apart from a missing image. Needs scripts/testbed.sh.

mod harness;
use harness::docker::*;
use harness::*;

const REG_IMG: &str = "127.0.0.1:5000/hoist/busybox:1";

/// A run that pulls from the testbed registry (user hoist) with the credentials given in `env`
/// and a docker config dir of its own, so the machine's ~/.docker plays no part.
fn pull_run(
    e: &DEnv,
    name: &str,
    image: &str,
    env: &[(&str, String)],
    config_json: Option<&str>,
) -> Out {
    let cfg = e.path(&format!("docker-config-{name}"));
    std::fs::create_dir_all(&cfg).expect("mkdir");
    if let Some(c) = config_json {
        std::fs::write(cfg.join("config.json"), c).expect("config.json");
    }
    let mut c = e.cmd(&[
        "run",
        "--platform",
        "docker",
        "--image",
        image,
        "--pull",
        "always",
        "--name",
        name,
        "--",
        "echo",
        "pulled",
    ]);
    without_registry_logins(&mut c).env("DOCKER_CONFIG", &cfg);
    for (k, v) in env {
        c.env(k, v);
    }
    Out(c.output().expect("run"))
}

fn why_rule(e: &DEnv, name: &str) -> (String, String) {
    let v: serde_json::Value =
        serde_json::from_str(&e.run(&["why", name, "--json"]).stdout()).expect("why json");
    (
        v["rule"].as_str().unwrap_or_default().to_string(),
        v["err_class"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn pulls_from_a_private_registry_with_each_kind_of_credential() {
    let e = denv();
    let creds = |pass: &str| {
        vec![
            ("DOCKER_USERNAME", "hoist".to_string()),
            ("DOCKER_PASSWORD", pass.to_string()),
            ("DOCKER_SERVER", "127.0.0.1:5000".to_string()),
        ]
    };
    let ok = pull_run(
        &e,
        "env-creds",
        REG_IMG,
        &creds("hoist-registry-pass"),
        None,
    );
    assert_eq!(
        (ok.code(), ok.stdout().as_str()),
        (0, "pulled\n"),
        "{}",
        ok.stderr()
    );
    let cmd = pull_run(
        &e,
        "cmd-creds",
        REG_IMG,
        &creds("$(printf hoist-registry-pass)"),
        None,
    );
    assert_eq!(
        cmd.code(),
        0,
        "a $(...) password is run locally: {}",
        cmd.stderr()
    );
    // What `docker login` writes: base64 of user:password.
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "hoist:hoist-registry-pass",
    );
    let cfg = format!(r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{auth}"}}}}}}"#);
    let file = pull_run(&e, "config-creds", REG_IMG, &[], Some(&cfg));
    assert_eq!(
        file.code(),
        0,
        "credentials from config.json: {}",
        file.stderr()
    );
    for (o, name) in [(&ok, "env-creds"), (&cmd, "cmd-creds")] {
        assert!(
            !o.stderr().contains("hoist-registry-pass"),
            "the password never shows"
        );
        assert!(
            !e.run(&["show", name, "--json"])
                .stdout()
                .contains("hoist-registry-pass")
        );
    }
}

#[test]
fn refused_and_missing_images_are_told_apart() {
    let e = denv();
    let anon = pull_run(&e, "anon", REG_IMG, &[], None);
    assert_eq!(anon.code(), 1, "{}", anon.stderr());
    assert_eq!(
        why_rule(&e, "anon"),
        ("log:image_pull_auth".into(), "ERR_CONFIG".into())
    );
    let wrong = vec![
        ("DOCKER_USERNAME", "hoist".to_string()),
        ("DOCKER_PASSWORD", "wrong".to_string()),
    ];
    let bad = pull_run(&e, "wrongpass", REG_IMG, &wrong, None);
    assert_eq!(bad.code(), 1);
    assert!(!bad.stderr().contains("wrong\""), "{}", bad.stderr());
    assert_eq!(
        why_rule(&e, "wrongpass"),
        ("log:image_pull_auth".into(), "ERR_CONFIG".into())
    );
    let right = vec![
        ("DOCKER_USERNAME", "hoist".to_string()),
        ("DOCKER_PASSWORD", "hoist-registry-pass".to_string()),
    ];
    let missing = pull_run(
        &e,
        "notag",
        "127.0.0.1:5000/hoist/busybox:nope",
        &right,
        None,
    );
    assert_eq!(missing.code(), 1);
    assert_eq!(
        why_rule(&e, "notag"),
        ("log:image_not_found".into(), "ERR_CONFIG".into())
    );
}
