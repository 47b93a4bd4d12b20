//! What the cluster can run: its nodes and their allocatable GPUs (checked before a submit so
//! an impossible job is refused rather than left Pending forever) and the preflight report.

use crate::KubePlatform;
use hoist_core::{InputError, PlatformError, PreflightCheck};
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::Client;
use kube::api::{Api, ListParams};

/// Allocatable `nvidia.com/gpu` per node.
pub(crate) fn gpu_capacity_of(nodes: &[Node]) -> Vec<(String, u64)> {
    nodes
        .iter()
        .map(|n| {
            let gpus = n
                .status
                .as_ref()
                .and_then(|s| s.allocatable.as_ref())
                .and_then(|a| a.get("nvidia.com/gpu"))
                .and_then(|q| q.0.parse::<u64>().ok())
                .unwrap_or(0);
            (n.metadata.name.clone().unwrap_or_default(), gpus)
        })
        .collect()
}

/// Refuse what the cluster can never schedule: fewer allocatable GPUs than asked in all, or
/// no node with as many as one pod needs. `capacity` is that of the nodes the job may use
/// (those with its GPU `model`, when it names one).
pub(crate) fn capacity_guard(
    capacity: &[(String, u64)],
    per_node: u32,
    nodes: u32,
    model: Option<&str>,
) -> Result<(), InputError> {
    if per_node == 0 {
        return Ok(());
    }
    let total: u64 = capacity.iter().map(|(_, g)| g).sum();
    let need = u64::from(per_node) * u64::from(nodes);
    let biggest = capacity.iter().map(|(_, g)| *g).max().unwrap_or(0);
    if total >= need && biggest >= u64::from(per_node) {
        return Ok(());
    }
    let (whose, hint) = match model {
        Some(m) => (
            format!("the cluster's {m} nodes have"),
            format!(
                "ask for fewer GPUs or nodes, or another model than {m} (hoist preflight shows the cluster's GPUs)"
            ),
        ),
        None => (
            "the cluster has".to_string(),
            "install the NVIDIA GPU Operator (or device plugin) so nodes advertise nvidia.com/gpu (https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/), or ask for fewer GPUs".to_string(),
        ),
    };
    Err(InputError::new(
        format!(
            "{whose} {total} allocatable nvidia.com/gpu ({biggest} per node at most, over {} nodes), but the job needs {per_node} per node on {nodes} node(s)",
            capacity.len()
        ),
        hint,
    ))
}

impl KubePlatform {
    /// Every node, or `None` when this user may not list nodes (namespaced rights are
    /// common): what needs the nodes is then left to the scheduler.
    pub(crate) async fn list_nodes(
        &self,
        client: Client,
    ) -> Result<Option<Vec<Node>>, PlatformError> {
        let nodes: Api<Node> = Api::all(client);
        match nodes.list(&ListParams::default()).await {
            Ok(list) => Ok(Some(list.items)),
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
            Err(e) => Err(self.err("list nodes", e)),
        }
    }

    /// Allocatable `nvidia.com/gpu` per node.
    pub(crate) async fn gpu_capacity(
        &self,
        client: Client,
    ) -> Result<Vec<(String, u64)>, PlatformError> {
        let nodes: Api<Node> = Api::all(client);
        let list = nodes
            .list(&ListParams::default())
            .await
            .map_err(|e| self.err("list nodes", e))?;
        Ok(gpu_capacity_of(&list.items))
    }

    /// The preflight report: kubeconfig, namespace, GPUs, runner image. A failed connection
    /// ends the report there (nothing else can be asked).
    pub(crate) async fn checks(&self) -> Vec<PreflightCheck> {
        let mut checks = Vec::new();
        let client = match self.client().await {
            Ok(c) => {
                let server = self
                    .conn()
                    .await
                    .map(|c| c.server.clone())
                    .unwrap_or_default();
                checks.push(PreflightCheck::new(
                    "kubeconfig",
                    true,
                    true,
                    format!("API server {server}"),
                    "",
                ));
                c
            }
            Err(e) => {
                checks.push(PreflightCheck::new(
                    "kubeconfig",
                    false,
                    true,
                    e.to_string(),
                    &e.hint().unwrap_or_default(),
                ));
                return checks;
            }
        };
        let ns: Api<Namespace> = Api::all(client.clone());
        match ns.get_opt(&self.namespace).await {
            Ok(Some(_)) => checks.push(PreflightCheck::new(
                "namespace",
                true,
                true,
                self.namespace.clone(),
                "",
            )),
            Ok(None) => checks.push(PreflightCheck::new(
                "namespace",
                false,
                true,
                format!("namespace {} does not exist", self.namespace),
                "create it, or choose one with --namespace / TAO_K8S_NAMESPACE",
            )),
            Err(e) => checks.push(PreflightCheck::new(
                "namespace",
                false,
                true,
                self.err("read the namespace", e).to_string(),
                "check the API server and your rights",
            )),
        }
        match self.gpu_capacity(client).await {
            Ok(cap) => {
                let total: u64 = cap.iter().map(|(_, g)| g).sum();
                checks.push(PreflightCheck::new(
                    "gpus",
                    total > 0,
                    false,
                    format!(
                        "{total} allocatable nvidia.com/gpu on {} node(s)",
                        cap.len()
                    ),
                    "install the NVIDIA GPU Operator so nodes advertise nvidia.com/gpu",
                ));
            }
            Err(e) => checks.push(PreflightCheck::new("gpus", false, false, e.to_string(), "")),
        }
        checks.push(PreflightCheck::new(
            "runner image",
            self.settings.runner_image.is_some(),
            false,
            self.settings
                .runner_image
                .clone()
                .unwrap_or_else(|| "not set: jobs with inputs or outputs cannot run".into()),
            "hoist runner-image --tag REGISTRY/hoist-runner:TAG, push it, set HOIST_K8S_RUNNER_IMAGE",
        ));
        checks
    }
}
