"""``BrevSDK``: TAO's Brev SDK over hoist's brev platform."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from hoist._native import HoistError, InputError
from hoist.tao_sdk.models import Job
from hoist.tao_sdk.platforms._base import BaseSDK, logger

__all__ = ["BrevSDK"]


class BrevSDK(BaseSDK):
    """Jobs as containers on NVIDIA Brev instances (the ``brev`` CLI; ``BREV_API_TOKEN``
    optional). An instance is reused when ``instance_id`` names one, else created."""

    PLATFORM = "brev"
    BACKEND_TYPE = "brev"
    WORKSPACE_ID = ""

    def __init__(
        self,
        poll_interval: int = 30,
        state_file: str | os.PathLike[str] | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(poll_interval=poll_interval, state_file=state_file, home=home)

    def create_job(
        self,
        image: str,
        command: str | Sequence[str],
        gpu_count: int = 1,
        env_vars: Mapping[str, str] | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Sequence[str] | Mapping[str, str | None] | None = None,
        instance_id: str | None = None,
        gpu_type: str | None = None,
        cloud_cred_id: str | None = None,
        workspace_group_id: str | None = None,
        *,
        hooks: Mapping[str, Any] | None = None,
        name: str | None = None,
        shell: str | None = None,
        **platform_options: Any,
    ) -> Job:
        """Run ``command`` in a container of ``image`` on a Brev instance with ``gpu_count``
        GPUs (used, unlike TAO's). ``instance_id``: the instance to reuse (else one is made,
        ``hoist-<id>``); ``gpu_type``: its GPU model when created. Other keywords are hoist's
        brev settings (``instance_type``, ``delete_when_done`` …)."""
        for key, value in (
            ("cloud_cred_id", cloud_cred_id),
            ("workspace_group_id", workspace_group_id),
        ):
            if value is not None:
                raise InputError(
                    f"{key} is not supported by hoist's brev platform\n"
                    f"  hint: drop {key}; pick the instance with instance_id or instance_type"
                )
        options: dict[str, Any] = dict(platform_options)
        options.update(instance=instance_id, gpu_type=gpu_type)
        return self._submit(
            image,
            command,
            gpus=self._gpus(gpu_count),
            env_vars=env_vars,
            inputs=inputs,
            outputs=outputs,
            hooks=hooks,
            options=options,
            name=name,
            shell=shell,
        )

    def list_instances(self) -> list[dict[str, Any]]:
        """The Brev instances hoist's jobs use, each with its hoist jobs."""
        return self._hoist.instances(self.PLATFORM)

    def delete_instance(self, instance_id: str) -> bool:
        """Delete a Brev instance; False when that failed (the reason is logged)."""
        try:
            self._hoist.remove_instance(instance_id, platform=self.PLATFORM)
        except HoistError as e:
            logger.warning("could not delete instance %s: %s", instance_id, e)
            return False
        return True
