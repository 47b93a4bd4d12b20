//! What the kubernetes platform is configured with, what each job keeps, and its descriptor:
//! the one place that knows its settings, env names and capabilities.

use crate::KubePlatform;
use crate::manifest::parse_toleration;
use hoist_core::settings::{SettingDoc, SettingKind, SettingsMap};
use hoist_core::{
    BuildContext, Capabilities, EnvSource, InputError, PathView, Platform, PlatformDescriptor,
    PlatformError, PlatformInfo, Readiness, RunnerDelivery,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Every kubernetes setting.
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc::new(
        "context",
        SettingKind::String,
        "the kubeconfig context to use (kubectl config get-contexts lists them)",
    )
    .env(&["TAO_K8S_CONTEXT"])
    .computed("the kubeconfig's current context, else in-cluster"),
    SettingDoc::new(
        "namespace",
        SettingKind::String,
        "the namespace jobs are created in",
    )
    .env(&["TAO_K8S_NAMESPACE"])
    .flag("--namespace")
    .default("default")
    .per_job(),
    SettingDoc::new(
        "runner_image",
        SettingKind::String,
        "image of the init container that installs hoist's runner, needed by jobs that stage data (build it with hoist runner-image)",
    )
    .env(&["HOIST_K8S_RUNNER_IMAGE"]),
    SettingDoc::new(
        "ttl_seconds",
        SettingKind::Integer,
        "seconds a finished Job is kept before the cluster deletes it",
    )
    .default("3600"),
    SettingDoc::new(
        "retain",
        SettingKind::String,
        "how long an ended job's Job, pods, Service and Secrets are kept (90s, 12h, 7d, 2w) before hoist gc removes them, saving logs and what why and show need first; hoist gc --older-than overrides it (ttl_seconds may remove the Job sooner, logs and all)",
    )
    .env(&["HOIST_K8S_RETAIN"])
    .default("7d"),
    SettingDoc::new(
        "node_selector",
        SettingKind::Map,
        "node labels the pods need, KEY=VALUE",
    )
    .flag("--node-selector")
    .per_job(),
    SettingDoc::new(
        "tolerations",
        SettingKind::List,
        "tolerations of the pods, KEY[=VALUE][:EFFECT] (no value: Exists)",
    )
    .flag("--toleration")
    .per_job(),
    SettingDoc::new(
        "image_pull_secret",
        SettingKind::String,
        "Secret with registry credentials for the image",
    )
    .flag("--image-pull-secret")
    .per_job(),
];

/// The kubernetes platform's description.
pub static INFO: PlatformInfo = PlatformInfo {
    name: "kubernetes",
    aliases: &["k8s", "kube"],
    summary: "a Job per job (Indexed Job + headless Service across nodes) through the Kubernetes API",
    settings: SETTINGS,
    env: &[
        (
            "KUBECONFIG",
            "kubeconfig file(s) to read, colon-separated (else ~/.kube/config)",
        ),
        (
            "KUBERNETES_SERVICE_HOST",
            "set inside a pod: with no kubeconfig, use the pod's service account",
        ),
    ],
    capabilities: Capabilities {
        runner: RunnerDelivery::Image,
        paths: PathView::Container,
        images: true,
        multi_node: true,
        watch: true,
        instances: false,
    },
};

/// Typed settings (keys and kinds were checked by `hoist_core::settings::resolve`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeSettings {
    /// kubeconfig context; `None`: the current one, else in-cluster.
    pub context: Option<String>,
    /// Namespace (default `default`).
    pub namespace: Option<String>,
    /// Runner image for jobs with data staging.
    pub runner_image: Option<String>,
    /// Seconds a finished Job is kept (default 3600).
    pub ttl_seconds: Option<i32>,
    /// How long an ended job's objects are kept before `hoist gc` removes them.
    pub retain: Option<String>,
    /// Node labels the pods need (per job: read back from the job's options).
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations (per job: read back from the job's options).
    pub tolerations: Option<Vec<String>>,
    /// Pull secret (per job: read back from the job's options).
    pub image_pull_secret: Option<String>,
}

impl KubeSettings {
    /// Read resolved settings, refusing tolerations that could never be rendered.
    pub fn from_map(m: &SettingsMap) -> Result<Self, InputError> {
        let s: KubeSettings = hoist_core::settings::typed(
            "kubernetes",
            m,
            "ttl_seconds is 0 to 2147483647 seconds; node_selector a table of strings",
        )?;
        if let Some(t) = s.ttl_seconds
            && t < 0
        {
            return Err(InputError::new(
                format!("kubernetes setting ttl_seconds is {t}, below 0"),
                "set ttl_seconds to the seconds a finished Job is kept, e.g. 3600",
            ));
        }
        if let Some(r) = &s.retain {
            hoist_core::age::parse_age("kubernetes setting retain", r)?;
        }
        for t in s.tolerations.iter().flatten() {
            parse_toleration(t)?;
        }
        Ok(s)
    }
}

/// What a kubernetes job keeps with it. Lenient: rows from older hoist versions carry other
/// keys, and their options object also held `context`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct KubeOptions {
    /// kubeconfig context (rows from before settings were pinned separately).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
    /// Node labels the pods must match.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations, `KEY[=VALUE][:EFFECT]` (no value: Exists).
    pub tolerations: Vec<String>,
    /// Secret with registry credentials for the image.
    pub image_pull_secret: Option<String>,
}

/// What later verbs of a job need to find its cluster and namespace again. Lenient: a row
/// migrated from the old store pins its whole old options object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Pinned {
    /// kubeconfig context the job was submitted through (`None`: the current one then).
    pub context: Option<String>,
    /// Namespace the job lives in.
    pub namespace: Option<String>,
}

impl Pinned {
    /// Read what [`Platform::pin`] returned; a value of another shape pins nothing rather
    /// than stopping every later verb on the job.
    pub fn from_value(v: Option<&serde_json::Value>) -> Self {
        hoist_core::settings::lenient(v)
    }
}

/// Constructs [`KubePlatform`]s.
pub struct Descriptor;

impl PlatformDescriptor for Descriptor {
    fn info(&self) -> &'static PlatformInfo {
        &INFO
    }

    fn check(&self, settings: &SettingsMap) -> Result<(), InputError> {
        KubeSettings::from_map(settings).map(|_| ())
    }

    fn build(
        &self,
        ctx: &BuildContext,
        settings: &SettingsMap,
        pinned: Option<&serde_json::Value>,
    ) -> Result<Box<dyn Platform>, PlatformError> {
        let mut s = KubeSettings::from_map(settings)?;
        // The job goes back to the cluster and namespace it was submitted to, whatever a
        // later shell says.
        let p = Pinned::from_value(pinned);
        if p.context.is_some() {
            s.context = p.context;
        }
        if p.namespace.is_some() {
            s.namespace = p.namespace;
        }
        // The build context's environment is where a task launcher overlays its registry
        // login (SKYPILOT_DOCKER_*): the pull Secret is made from it.
        Ok(Box::new(
            KubePlatform::new(s)
                .with_env(ctx.env.clone())
                .with_home(ctx.home.clone()),
        ))
    }

    fn readiness(&self, ctx: &BuildContext, _settings: &SettingsMap) -> Readiness {
        readiness(&*ctx.env)
    }
}

/// Whether a kubeconfig or a service account looks available, from files and variables only,
/// in the order the connection tries them (KUBECONFIG, else ~/.kube/config; then in-cluster).
pub fn readiness(env: &dyn EnvSource) -> Readiness {
    let kubeconfig = match env.get("KUBECONFIG") {
        Some(list) => match std::env::split_paths(&list).find(|p| p.is_file()) {
            Some(p) => Ok(format!("kubeconfig {} (KUBECONFIG)", p.display())),
            None => Err(format!("KUBECONFIG={list} names no file that exists")),
        },
        None => match env
            .get("HOME")
            .map(|h| PathBuf::from(h).join(".kube").join("config"))
            .filter(|p| p.is_file())
        {
            Some(p) => Ok(format!("kubeconfig {}", p.display())),
            None => Err("no kubeconfig (KUBECONFIG unset, no ~/.kube/config)".to_string()),
        },
    };
    match kubeconfig {
        Ok(reason) => Readiness {
            configured: true,
            reason,
        },
        Err(_) if env.get("KUBERNETES_SERVICE_HOST").is_some() => Readiness {
            configured: true,
            reason: "inside a cluster (KUBERNETES_SERVICE_HOST is set)".into(),
        },
        Err(why) => Readiness {
            configured: false,
            reason: format!("{why} and not inside a cluster"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::MapEnv;
    use serde_json::json;

    fn map(v: serde_json::Value) -> SettingsMap {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn check_refuses_bad_tolerations_and_unknown_keys() {
        let d = Descriptor;
        d.check(&map(json!({"namespace": "ml", "ttl_seconds": 60, "tolerations": ["a:NoSchedule"],
            "node_selector": {"k": "v"}, "image_pull_secret": "ngc", "context": "c", "runner_image": "r", "retain": "12h"})))
            .expect("good");
        let e = d
            .check(&map(json!({"tolerations": ["k:Sometimes"]})))
            .expect_err("effect");
        assert!(e.message.contains("Sometimes"), "{}", e.message);
        assert!(d.check(&map(json!({"ttl_seconds": -1}))).is_err());
        let e = d.check(&map(json!({"retain": "soon"}))).expect_err("age");
        assert!(e.message.contains("retain"), "{}", e.message);
        assert!(d.check(&map(json!({"namespase": "x"}))).is_err());
    }

    #[test]
    fn pinned_reads_new_and_migrated_forms() {
        let p = Pinned::from_value(Some(&json!({"context": "prod", "namespace": "ml"})));
        assert_eq!(
            (p.context.as_deref(), p.namespace.as_deref()),
            (Some("prod"), Some("ml"))
        );
        let old = json!({"context": null, "namespace": "ml", "node_selector": {"a": "b"},
            "tolerations": ["x"], "image_pull_secret": null});
        let p = Pinned::from_value(Some(&old));
        assert_eq!((p.context, p.namespace.as_deref()), (None, Some("ml")));
        assert_eq!(Pinned::from_value(Some(&json!("junk"))), Pinned::default());
        let o: KubeOptions = serde_json::from_value(old).expect("old options");
        assert_eq!(o.tolerations, vec!["x".to_string()]);
        let o: KubeOptions =
            serde_json::from_value(json!({"namespace": "ml", "tolerations": ["y"], "extra": 1}))
                .expect("new options");
        assert_eq!(o.namespace.as_deref(), Some("ml"));
    }

    #[test]
    fn readiness_looks_at_files_and_variables() {
        let dir = std::env::temp_dir().join(format!("hoist-kube-ready-{}", std::process::id()));
        let kube = dir.join(".kube");
        std::fs::create_dir_all(&kube).expect("dir");
        std::fs::write(kube.join("config"), "apiVersion: v1\n").expect("write");
        let home = dir.to_string_lossy().to_string();
        assert!(readiness(&MapEnv::of([("HOME", home.as_str())])).configured);
        let r = readiness(&MapEnv::of([("KUBECONFIG", "/no/such/file")]));
        assert!(!r.configured && r.reason.contains("/no/such/file"), "{r:?}");
        assert!(readiness(&MapEnv::of([("KUBERNETES_SERVICE_HOST", "10.0.0.1")])).configured);
        assert!(!readiness(&MapEnv::default()).configured);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pinned_values_win_over_settings() {
        let ctx = BuildContext {
            home: std::env::temp_dir(),
            exe: PathBuf::from("hoist"),
            env: std::sync::Arc::new(MapEnv::default()),
            reporter: std::sync::Arc::new(hoist_core::Silent),
        };
        let settings = map(json!({"namespace": "now", "context": "later-shell"}));
        let p = Descriptor
            .build(
                &ctx,
                &settings,
                Some(&json!({"context": "prod", "namespace": "ml"})),
            )
            .expect("build");
        assert_eq!(p.pin(), Some(json!({"context": "prod", "namespace": "ml"})));
        // A migrated row pins its whole old options object; a null context pins nothing.
        let old =
            json!({"context": null, "namespace": "ml", "tolerations": [], "node_selector": {}});
        let p = Descriptor
            .build(&ctx, &settings, Some(&old))
            .expect("build");
        assert_eq!(
            p.pin(),
            Some(json!({"context": "later-shell", "namespace": "ml"}))
        );
        let p = Descriptor
            .build(&ctx, &SettingsMap::new(), None)
            .expect("build");
        assert_eq!(
            p.pin(),
            Some(json!({"context": null, "namespace": "default"}))
        );
    }
}
