"""``KubernetesSDK``: TAO's Kubernetes SDK over hoist's kubernetes platform."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hoist.tao_sdk.models import Job
from hoist.tao_sdk.platforms._base import BaseSDK

__all__ = ["KubernetesSDK"]


def toleration_strings(tolerations: object) -> list[str]:
    """Tolerations as hoist takes them (``KEY[=VALUE][:EFFECT]``), from strings or from the
    dicts the Kubernetes API uses (``key``, ``operator``, ``value``, ``effect``)."""
    if isinstance(tolerations, str) or not isinstance(tolerations, (list, tuple)):
        raise TypeError(
            f"create_job() argument 'tolerations' must be a list, not {type(tolerations).__name__}"
        )
    out: list[str] = []
    for t in tolerations:
        if isinstance(t, str):
            out.append(t)
            continue
        if not isinstance(t, Mapping) or not t.get("key"):
            raise TypeError(
                "create_job() argument 'tolerations' must hold \"KEY[=VALUE][:EFFECT]\" strings "
                f"or dicts with a key, not {t!r}"
            )
        text = str(t["key"])
        if t.get("value") and t.get("operator", "Equal") == "Equal":
            text += f"={t['value']}"
        if t.get("effect"):
            text += f":{t['effect']}"
        out.append(text)
    return out


class KubernetesSDK(BaseSDK):
    """Jobs as Kubernetes Jobs (an Indexed Job and a headless Service across nodes).

    Configuration as TAO reads it: ``KUBECONFIG`` (else ``~/.kube/config``, else in-cluster),
    ``TAO_K8S_CONTEXT``, ``TAO_K8S_NAMESPACE``.
    """

    PLATFORM = "kubernetes"
    BACKEND_TYPE = "kubernetes"
    WORKSPACE_ID = "kubernetes"

    def create_job(
        self,
        image: str,
        command: str | Sequence[str],
        gpu_count: int = 1,
        env_vars: Mapping[str, str] | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Sequence[str] | Mapping[str, str | None] | None = None,
        hooks: Mapping[str, Any] | None = None,
        num_nodes: int = 1,
        namespace: str | None = None,
        node_selector: Mapping[str, str] | None = None,
        tolerations: Sequence[str | Mapping[str, Any]] | None = None,
        image_pull_secret: str | None = None,
        *,
        name: str | None = None,
        shell: str | None = None,
        **platform_options: Any,
    ) -> Job:
        """Run ``command`` in pods of ``image``: ``gpu_count`` GPUs per pod, ``num_nodes``
        pods (rendezvous variables set). Other keywords are hoist's kubernetes settings."""
        if node_selector is not None and not isinstance(node_selector, Mapping):
            raise TypeError(
                "create_job() argument 'node_selector' must be a dict, "
                f"not {type(node_selector).__name__}"
            )
        options: dict[str, Any] = dict(platform_options)
        if tolerations is not None:
            options["tolerations"] = toleration_strings(tolerations)
        options.update(
            namespace=namespace,
            node_selector=dict(node_selector) if node_selector is not None else None,
            image_pull_secret=image_pull_secret,
        )
        return self._submit(
            image,
            command,
            gpus=self._gpus(gpu_count),
            nodes=self._nodes(num_nodes),
            env_vars=env_vars,
            inputs=inputs,
            outputs=outputs,
            hooks=hooks,
            options=options,
            name=name,
            shell=shell,
        )

    def get_job_replicas(self, job_id: str) -> list[dict[str, Any]]:
        """TAO's per-pod diagnostics: hoist has none of its own here (``get_failure_analysis``
        and ``hoist show`` tell why a job is stuck), so this is always []."""
        _ = job_id
        return []
