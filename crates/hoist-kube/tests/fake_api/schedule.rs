//! The scheduler's part of the fake: which node a pod lands on, from the node's labels (the
//! pod's `nodeSelector` and required node affinity) and its allocatable `nvidia.com/gpu`
//! (what is already in use is not counted). A pod no node admits stays Pending with the
//! scheduler's own message.

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, PodSpec};
use serde_json::Value;
use std::collections::BTreeMap;

fn labels(node: &Node) -> BTreeMap<String, String> {
    node.metadata.labels.clone().unwrap_or_default()
}

fn requirement_holds(r: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&r.key);
    let values = r.values.clone().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        // Gt/Lt compare integers; nothing hoist writes uses them.
        _ => false,
    }
}

/// Whether the node's labels satisfy the pod's node selector and required node affinity
/// (terms are alternatives; a term's expressions must all hold).
fn selects(pod: &PodSpec, labels: &BTreeMap<String, String>) -> bool {
    let selector_ok = pod
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let required = pod
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let affinity_ok = match required {
        None => true,
        Some(sel) => sel.node_selector_terms.iter().any(|t| {
            t.match_expressions
                .iter()
                .flatten()
                .all(|r| requirement_holds(r, labels))
        }),
    };
    selector_ok && affinity_ok
}

fn gpus_asked(pod: &PodSpec) -> u64 {
    pod.containers
        .iter()
        .filter_map(|c| c.resources.as_ref()?.limits.as_ref()?.get("nvidia.com/gpu"))
        .filter_map(|q| q.0.parse::<u64>().ok())
        .sum()
}

fn gpus_of(node: &Node) -> u64 {
    node.status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get("nvidia.com/gpu"))
        .and_then(|q| q.0.parse::<u64>().ok())
        .unwrap_or(0)
}

/// The first node (in the cluster's order) that admits `pod`, or the reason none does, worded
/// as kube-scheduler words it.
pub(super) fn pick(nodes: &[Value], pod: &PodSpec) -> Result<String, String> {
    let nodes: Vec<Node> = nodes
        .iter()
        .filter_map(|n| serde_json::from_value(n.clone()).ok())
        .collect();
    let want = gpus_asked(pod);
    let (mut unmatched, mut short) = (0, 0);
    for n in &nodes {
        if !selects(pod, &labels(n)) {
            unmatched += 1;
        } else if gpus_of(n) < want {
            short += 1;
        } else {
            return Ok(n.metadata.name.clone().unwrap_or_default());
        }
    }
    let mut reasons = Vec::new();
    if unmatched > 0 {
        reasons.push(format!(
            "{unmatched} node(s) didn't match Pod's node affinity/selector"
        ));
    }
    if short > 0 {
        reasons.push(format!("{short} Insufficient nvidia.com/gpu"));
    }
    reasons.sort();
    let total = nodes.len();
    Err(format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling.",
        reasons.join(", ")
    ))
}
