"""``DockerSDK``: TAO's local/remote Docker SDK over hoist's docker platform."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from hoist.tao_sdk.models import Job
from hoist.tao_sdk.platforms._base import BaseSDK

__all__ = ["DockerSDK"]


def docker_mounts(mounts: object) -> list[str]:
    """TAO's mounts (``"src:dst[:mode]"`` strings, or dicts with ``host_path``/``source`` and
    ``container_path``/``target``, ``mode`` or ``read_only``) as hoist's ``SRC:DST[:ro]``."""
    if isinstance(mounts, str) or not isinstance(mounts, (list, tuple)):
        raise TypeError(
            f"create_job() argument 'mounts' must be a list, not {type(mounts).__name__}"
        )
    out: list[str] = []
    for m in mounts:
        if isinstance(m, str):
            out.append(m)
            continue
        if not isinstance(m, Mapping):
            raise TypeError(
                "create_job() argument 'mounts' must hold \"src:dst[:mode]\" strings or dicts, "
                f"not {type(m).__name__}"
            )
        src = m.get("source") or m.get("host_path") or m.get("from") or m.get("from_path")
        dst = m.get("target") or m.get("container_path") or m.get("mount_path") or m.get("path")
        if not src or not dst:
            raise ValueError(
                f"mount {dict(m)!r} needs a source (host_path) and a target (container_path)"
            )
        ro = m.get("read_only") is True or m.get("mode") == "ro"
        out.append(f"{src}:{dst}:ro" if ro else f"{src}:{dst}")
    return out


class DockerSDK(BaseSDK):
    """Jobs as containers on a Docker daemon (``DOCKER_HOST``, else the local socket).

    Configuration as TAO reads it: ``DOCKER_HOST``, ``DOCKER_NETWORK``, ``DOCKER_PULL_POLICY``,
    ``DOCKER_AUTO_REMOVE``, ``NGC_KEY`` for nvcr.io pulls; ``ACCESS_KEY``, ``SECRET_KEY``,
    ``S3_ENDPOINT_URL``, ``S3_BUCKET_NAME``, ``HF_TOKEN``, ``NGC_KEY`` reach the job.
    """

    PLATFORM = "docker"
    BACKEND_TYPE = "docker"
    WORKSPACE_ID = "local"

    def create_job(
        self,
        image: str,
        command: str | Sequence[str],
        gpu_count: int = 1,
        env_vars: Mapping[str, str] | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Sequence[str] | Mapping[str, str | None] | None = None,
        hooks: Mapping[str, Any] | None = None,
        mounts: Sequence[str | Mapping[str, Any]] | None = None,
        shm_size: int | str | None = None,
        run_as_user: bool | None = None,
        container_user: str | int | None = None,
        *,
        name: str | None = None,
        shell: str | None = None,
        **platform_options: Any,
    ) -> Job:
        """Run ``command`` in a container of ``image`` (single node).

        ``gpu_count``: GPUs (-1: all). ``inputs`` ``{container_path: uri}`` are fetched before
        the command and ``outputs`` (paths) uploaded after it, as TAO's docstring promises.
        ``mounts``: bind mounts (a writable one at ``/results`` keeps results on the host).
        ``shm_size``: ``/dev/shm`` size. ``container_user`` (or ``run_as_user=True``: this
        process's uid:gid) is the user the job runs as. Other keywords are hoist's docker
        settings (``pull``, ``network``, ``auto_remove``, ``docker_host`` …).
        """
        user: str | None = None
        if container_user is not None:
            user = str(container_user)
        elif run_as_user:
            user = f"{os.getuid()}:{os.getgid()}"
        options: dict[str, Any] = dict(platform_options)
        if mounts is not None:
            options["mounts"] = docker_mounts(mounts)
        options.update(shm_size=shm_size, user=user)
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
