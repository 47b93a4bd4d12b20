"""``LeptonSDK``: hoist's DGX Cloud Lepton platform with the TAO SDK's shape (TAO has none)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hoist.tao_sdk.models import Job
from hoist.tao_sdk.platforms._base import BaseSDK

__all__ = ["LeptonSDK"]


class LeptonSDK(BaseSDK):
    """Jobs on an NVIDIA DGX Cloud Lepton workspace (``LEPTON_WORKSPACE_ID``,
    ``LEPTON_WORKSPACE_TOKEN``; ``LEPTON_NODE_GROUP``)."""

    PLATFORM = "lepton"
    BACKEND_TYPE = "lepton"
    WORKSPACE_ID = "lepton"

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
        node_group: str | None = None,
        resource_shape: str | None = None,
        mounts: Sequence[str] | None = None,
        image_pull_secret: str | None = None,
        *,
        name: str | None = None,
        shell: str | None = None,
        **platform_options: Any,
    ) -> Job:
        """Run ``command`` in ``image`` on ``num_nodes`` workers of ``gpu_count`` GPUs each.
        ``node_group``, ``resource_shape``, ``mounts`` (``VOLUME:PATH:MOUNT_PATH``),
        ``image_pull_secret``; other keywords are hoist's lepton settings."""
        options: dict[str, Any] = dict(platform_options)
        options.update(
            node_group=node_group,
            resource_shape=resource_shape,
            mounts=list(mounts) if mounts is not None else None,
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
