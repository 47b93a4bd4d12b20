//! A GPU model (`--gpus A100:8`, a task's `accelerators`) → the nodes that have it.
//!
//! Nodes name their GPU in labels whose values are longer than the model people write: GPU
//! feature discovery sets `nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB`, GKE
//! `cloud.google.com/gke-accelerator=nvidia-tesla-a100`, SkyPilot `skypilot.co/accelerator=a100`.
//! So an exact node selector on `A100` would never match: at submit hoist reads the nodes'
//! labels, keeps the values the model matches, and requires them with a node affinity.

use hoist_core::InputError;
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec,
};
use std::collections::{BTreeMap, BTreeSet};

/// The node labels that name a node's GPU model, in the order they are preferred.
pub const GPU_MODEL_LABELS: [&str; 3] = [
    "nvidia.com/gpu.product",
    "cloud.google.com/gke-accelerator",
    "skypilot.co/accelerator",
];

/// The label a placement uses when the nodes cannot be read (GPU feature discovery's).
pub const PRODUCT_LABEL: &str = GPU_MODEL_LABELS[0];

/// Where a job asking for a GPU model may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuPlacement {
    /// Nodes whose label (the key) has one of the values, under any of the keys: a required
    /// node affinity with one term per key (terms are alternatives).
    Affinity(BTreeMap<String, BTreeSet<String>>),
    /// The node selector `nvidia.com/gpu.product=<model>`, the model as given: when the nodes
    /// may not be listed, nothing better can be said.
    Selector(String),
}

impl GpuPlacement {
    /// What a dry run shows without asking the cluster: the affinity on
    /// `nvidia.com/gpu.product` with the model as given.
    pub fn as_given(model: &str) -> GpuPlacement {
        GpuPlacement::Affinity(BTreeMap::from([(
            PRODUCT_LABEL.to_string(),
            BTreeSet::from([model.to_string()]),
        )]))
    }

    /// Put the placement into `pod`. A node selector the user gave for the same label wins.
    pub(crate) fn apply(&self, pod: &mut PodSpec) {
        match self {
            GpuPlacement::Affinity(by_key) => {
                let terms = by_key
                    .iter()
                    .map(|(key, values)| NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: key.clone(),
                            operator: "In".into(),
                            values: Some(values.iter().cloned().collect()),
                        }]),
                        ..Default::default()
                    })
                    .collect();
                pod.affinity = Some(Affinity {
                    node_affinity: Some(NodeAffinity {
                        required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                            node_selector_terms: terms,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
            GpuPlacement::Selector(model) => {
                pod.node_selector
                    .get_or_insert_default()
                    .entry(PRODUCT_LABEL.to_string())
                    .or_insert_with(|| model.clone());
            }
        }
    }
}

/// The words of a model or label value, lowercased: split on `-`, `_` and spaces.
fn words(s: &str) -> Vec<String> {
    s.split(['-', '_', ' '])
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether the label `value` names the GPU `model`: every word of the model is a word of the
/// value, in the model's order. `A100` matches `NVIDIA-A100-SXM4-80GB` and
/// `nvidia-tesla-a100`, `A100-80GB` matches `NVIDIA-A100-SXM4-80GB`; `A10` matches neither.
pub fn model_matches(model: &str, value: &str) -> bool {
    let want = words(model);
    if want.is_empty() {
        return false;
    }
    let have = words(value);
    let mut have = have.iter();
    want.iter().all(|w| have.any(|h| h == w))
}

/// What the nodes say about `model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The affinity over the matching label values.
    pub placement: GpuPlacement,
    /// The names of the nodes it admits.
    pub nodes: BTreeSet<String>,
}

/// The placement for `model` over `nodes`' labels; an input error naming the models the
/// cluster has when none matches.
pub fn place(model: &str, nodes: &[Node]) -> Result<Placed, InputError> {
    let mut by_key: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut admitted = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for n in nodes {
        let Some(labels) = n.metadata.labels.as_ref() else {
            continue;
        };
        for key in GPU_MODEL_LABELS {
            let Some(value) = labels.get(key) else {
                continue;
            };
            seen.insert(value.clone());
            if model_matches(model, value) {
                by_key
                    .entry(key.to_string())
                    .or_default()
                    .insert(value.clone());
                admitted.insert(n.metadata.name.clone().unwrap_or_default());
            }
        }
    }
    if by_key.is_empty() {
        return Err(if seen.is_empty() {
            InputError::new(
                format!(
                    "the job asks for {model} GPUs, but no node of the cluster names its GPU model (labels {})",
                    GPU_MODEL_LABELS.join(", ")
                ),
                "install the NVIDIA GPU Operator (its GPU feature discovery labels nodes with nvidia.com/gpu.product), or drop the model (--gpus N) and choose nodes with --node-selector",
            )
        } else {
            InputError::new(
                format!(
                    "no node of the cluster has {model} GPUs; its nodes have: {}",
                    seen.into_iter().collect::<Vec<_>>().join(", ")
                ),
                "ask for one of those models (--gpus MODEL:N), or drop the model (--gpus N)",
            )
        });
    }
    Ok(Placed {
        placement: GpuPlacement::Affinity(by_key),
        nodes: admitted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn models_match_on_word_boundaries() {
        for (model, value) in [
            ("A100", "NVIDIA-A100-SXM4-80GB"),
            ("a100", "NVIDIA-A100-PCIE-40GB"),
            ("A100", "nvidia-tesla-a100"),
            ("A100", "a100"),
            ("A100-80GB", "NVIDIA-A100-SXM4-80GB"),
            ("A100-80GB", "nvidia-a100-80gb"),
            ("H100", "NVIDIA-H100-80GB-HBM3"),
            ("H100-80GB", "nvidia-h100-80gb"),
            ("L4", "nvidia-l4"),
            ("RTX 4090", "NVIDIA-GeForce-RTX-4090"),
            ("tesla_t4", "nvidia-tesla-t4"),
        ] {
            assert!(model_matches(model, value), "{model} should match {value}");
        }
        for (model, value) in [
            ("A10", "NVIDIA-A100-SXM4-80GB"),
            ("A10", "nvidia-tesla-a100"),
            ("A100", "NVIDIA-A10"),
            ("H100", "NVIDIA-H100X"),
            ("A100-40GB", "NVIDIA-A100-SXM4-80GB"),
            ("80GB-A100", "NVIDIA-A100-SXM4-80GB"),
            ("L4", "nvidia-l40s"),
            ("", "NVIDIA-A100"),
            ("-", "NVIDIA-A100"),
        ] {
            assert!(
                !model_matches(model, value),
                "{model} must not match {value}"
            );
        }
    }

    fn node(name: &str, labels: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn matching_values_are_collected_per_label_key() {
        let nodes = [
            node(
                "gfd",
                &[("nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB")],
            ),
            node(
                "gfd-40",
                &[("nvidia.com/gpu.product", "NVIDIA-A100-PCIE-40GB")],
            ),
            node(
                "gke",
                &[("cloud.google.com/gke-accelerator", "nvidia-tesla-a100")],
            ),
            node("a10", &[("nvidia.com/gpu.product", "NVIDIA-A10")]),
            node("cpu", &[("kubernetes.io/os", "linux")]),
        ];
        let p = place("A100", &nodes).expect("placed");
        let GpuPlacement::Affinity(by_key) = &p.placement else {
            panic!("an affinity: {p:?}")
        };
        assert_eq!(
            by_key["nvidia.com/gpu.product"],
            BTreeSet::from([
                "NVIDIA-A100-PCIE-40GB".into(),
                "NVIDIA-A100-SXM4-80GB".into()
            ])
        );
        assert_eq!(
            by_key["cloud.google.com/gke-accelerator"],
            BTreeSet::from(["nvidia-tesla-a100".to_string()])
        );
        assert_eq!(
            p.nodes,
            BTreeSet::from(["gfd".into(), "gfd-40".into(), "gke".into()])
        );
        let p = place("A10", &nodes).expect("A10 is there too");
        assert_eq!(p.nodes, BTreeSet::from(["a10".to_string()]));
    }

    #[test]
    fn no_match_names_what_the_cluster_has() {
        let nodes = [
            node("a", &[("nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB")]),
            node("b", &[("skypilot.co/accelerator", "l4")]),
        ];
        let e = place("H100", &nodes).expect_err("none");
        assert!(
            e.message.contains("H100") && e.message.contains("NVIDIA-A100-SXM4-80GB, l4"),
            "{}",
            e.message
        );
        let e = place("H100", &[node("cpu", &[])]).expect_err("none");
        assert!(e.hint.contains("GPU Operator"), "{}", e.hint);
    }

    #[test]
    fn a_selector_keeps_the_users_own_value() {
        let mut pod = PodSpec::default();
        GpuPlacement::Selector("A100".into()).apply(&mut pod);
        assert_eq!(
            pod.node_selector.as_ref().expect("set")[PRODUCT_LABEL],
            "A100"
        );
        let mut pod = PodSpec {
            node_selector: Some(BTreeMap::from([(
                PRODUCT_LABEL.to_string(),
                "NVIDIA-A100-SXM4-80GB".to_string(),
            )])),
            ..Default::default()
        };
        GpuPlacement::Selector("A100".into()).apply(&mut pod);
        assert_eq!(
            pod.node_selector.as_ref().expect("set")[PRODUCT_LABEL],
            "NVIDIA-A100-SXM4-80GB"
        );
    }
}
