//! The kubernetes platform's `hoist run` flags, read into its settings.

use crate::manifest::parse_toleration;
use hoist_core::InputError;
use hoist_core::settings::SettingsMap;
use serde_json::Value;

/// Flags of `hoist run` that only the kubernetes platform reads. Ids carry the platform's
/// name because these are flattened into one command with every other platform's flags.
#[derive(clap::Args, Debug, Default)]
#[command(next_help_heading = "Kubernetes")]
#[group(id = "kubernetes_flags")]
pub struct Flags {
    /// Kubernetes: namespace (default TAO_K8S_NAMESPACE, else default).
    #[arg(
        long = "namespace",
        short = 'n',
        id = "kube_namespace",
        value_name = "NS"
    )]
    pub namespace: Option<String>,
    /// Kubernetes: node label the pods need, KEY=VALUE (repeatable).
    #[arg(long = "node-selector", id = "kube_node_selector", value_name = "K=V")]
    pub node_selectors: Vec<String>,
    /// Kubernetes: toleration KEY[=VALUE][:EFFECT] (repeatable).
    #[arg(long = "toleration", id = "kube_toleration", value_name = "SPEC")]
    pub tolerations: Vec<String>,
    /// Kubernetes: Secret with registry credentials for the image.
    #[arg(
        long = "image-pull-secret",
        id = "kube_image_pull_secret",
        value_name = "NAME"
    )]
    pub image_pull_secret: Option<String>,
}

/// Add the kubernetes flags (under their own help heading) to `cmd`.
pub fn augment(cmd: clap::Command) -> clap::Command {
    <Flags as clap::Args>::augment_args(cmd)
}

/// The kubernetes flags that were given, keyed by setting.
pub fn read(m: &clap::ArgMatches) -> Result<SettingsMap, InputError> {
    let mut out = SettingsMap::new();
    let strings = |id: &str| -> Vec<String> {
        m.try_get_many::<String>(id)
            .ok()
            .flatten()
            .map(|v| v.cloned().collect())
            .unwrap_or_default()
    };
    let one = |id: &str| m.try_get_one::<String>(id).ok().flatten().cloned();
    if let Some(ns) = one("kube_namespace") {
        out.insert("namespace".into(), Value::String(ns));
    }
    let selectors = strings("kube_node_selector");
    if !selectors.is_empty() {
        let mut sel = serde_json::Map::new();
        for kv in &selectors {
            let (k, v) = kv.split_once('=').ok_or_else(|| {
                InputError::new(
                    format!("malformed --node-selector {kv:?}"),
                    "write --node-selector KEY=VALUE, e.g. nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3",
                )
            })?;
            sel.insert(k.to_string(), Value::String(v.to_string()));
        }
        out.insert("node_selector".into(), Value::Object(sel));
    }
    let tolerations = strings("kube_toleration");
    if !tolerations.is_empty() {
        for t in &tolerations {
            parse_toleration(t)?;
        }
        out.insert(
            "tolerations".into(),
            Value::Array(tolerations.into_iter().map(Value::String).collect()),
        );
    }
    if let Some(s) = one("kube_image_pull_secret") {
        out.insert("image_pull_secret".into(), Value::String(s));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(args: &[&str]) -> Result<SettingsMap, InputError> {
        hoist_testkit::parse_flags(augment, read, args)
    }

    #[test]
    fn given_flags_become_settings() {
        let got = parse(&[
            "-n",
            "ml",
            "--node-selector",
            "nvidia.com/gpu.product=H100",
            "--node-selector",
            "zone=a=b",
            "--toleration",
            "nvidia.com/gpu:NoSchedule",
            "--toleration",
            "dedicated=ml:NoExecute",
            "--image-pull-secret",
            "ngc-pull",
        ])
        .expect("read");
        assert_eq!(
            serde_json::Value::Object(got),
            json!({
                "namespace": "ml",
                "node_selector": {"nvidia.com/gpu.product": "H100", "zone": "a=b"},
                "tolerations": ["nvidia.com/gpu:NoSchedule", "dedicated=ml:NoExecute"],
                "image_pull_secret": "ngc-pull",
            })
        );
        assert!(parse(&[]).expect("none").is_empty());
        let got = parse(&["--namespace", "team"]).expect("read");
        assert_eq!(serde_json::Value::Object(got), json!({"namespace": "team"}));
    }

    #[test]
    fn malformed_values_are_refused() {
        let e = parse(&["--node-selector", "gpu"]).expect_err("no =");
        assert_eq!(e.message, "malformed --node-selector \"gpu\"");
        let e = parse(&["--toleration", "k:Sometimes"]).expect_err("effect");
        assert!(e.message.contains("Sometimes"), "{}", e.message);
    }

    #[test]
    fn every_flag_names_its_setting() {
        for (flag, key) in [
            ("--namespace", "namespace"),
            ("--node-selector", "node_selector"),
            ("--toleration", "tolerations"),
            ("--image-pull-secret", "image_pull_secret"),
        ] {
            let doc = crate::settings::SETTINGS
                .iter()
                .find(|d| d.key == key)
                .expect("a setting");
            assert_eq!(doc.flag, Some(flag));
        }
    }
}
