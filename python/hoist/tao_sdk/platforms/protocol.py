"""The interface every platform SDK implements (TAO's ``tao_sdk.platforms.protocol``)."""

from __future__ import annotations

from typing import Any, Protocol

from hoist.tao_sdk.models import Job, JobStatus

__all__ = ["PlatformSDK"]


class PlatformSDK(Protocol):
    """What ``DockerSDK``, ``SlurmSDK``, ``KubernetesSDK``, ``BrevSDK``, ``LeptonSDK`` and
    ``VirtualEnvSDK`` have in common."""

    def create_job(
        self,
        image: str,
        command: str,
        gpu_count: int = 1,
        env_vars: dict[str, str] | None = None,
        inputs: dict[str, str] | None = None,
        outputs: list[str] | None = None,
        **kwargs: Any,
    ) -> Job: ...

    def get_job_status(self, job_id: str) -> JobStatus: ...

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str: ...

    def cancel_job(self, job_id: str) -> bool: ...

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None: ...
