"""``SlurmSDK``: TAO's SLURM-over-ssh SDK over hoist's slurm platform."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hoist.tao_sdk.models import Job
from hoist.tao_sdk.platforms._base import BaseSDK

__all__ = ["SlurmSDK"]


def container_mounts(mounts: object) -> list[str]:
    """TAO's SLURM mounts (a ``"src:dst,src2:dst2"`` string, a list of such strings, or dicts
    with ``source``/``from_path`` and ``target``/``mount_path``) as hoist's list."""
    if isinstance(mounts, str):
        return [m for m in (p.strip() for p in mounts.split(",")) if m]
    if not isinstance(mounts, (list, tuple)):
        raise TypeError(
            f"create_job() argument 'mounts' must be a str or a list, not {type(mounts).__name__}"
        )
    out: list[str] = []
    for m in mounts:
        if isinstance(m, str):
            out.append(m)
        elif isinstance(m, Mapping):
            src = m.get("from_path") or m.get("source") or m.get("src")
            dst = m.get("mount_path") or m.get("path") or m.get("target") or src
            if not src:
                raise ValueError(f"mount {dict(m)!r} needs a source (from_path)")
            out.append(f"{src}:{dst}")
        else:
            raise TypeError(
                f"create_job() argument 'mounts' must hold str or dicts, not {type(m).__name__}"
            )
    return out


class SlurmSDK(BaseSDK):
    """Jobs submitted with sbatch on a SLURM cluster, over ssh to a login node.

    Credentials as TAO reads them: ``SLURM_HOSTNAME`` (or ``SSH_HOST``; comma-separated for
    failover) and ``SLURM_USER`` (or ``SSH_USER``), ``SSH_KEY_PATH``; settings
    ``SLURM_PARTITION``, ``SLURM_ACCOUNT``, ``SLURM_BASE_RESULTS_DIR``, ``SLURM_TIME_HOURS``,
    ``SLURM_CONTAINER_MOUNTS`` … A missing login host raises ``CredentialError`` on submit.
    """

    PLATFORM = "slurm"
    BACKEND_TYPE = "slurm"
    WORKSPACE_ID = "slurm"
    PASSES_BUCKET = False

    def create_job(
        self,
        image: str | None,
        command: str | Sequence[str],
        gpu_count: int = 1,
        env_vars: Mapping[str, str] | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Sequence[str] | Mapping[str, str | None] | None = None,
        hooks: Mapping[str, Any] | None = None,
        num_nodes: int = 1,
        partition: str | None = None,
        account: str | None = None,
        mounts: str | Sequence[str | Mapping[str, Any]] | None = None,
        container: str | None = None,
        *,
        name: str | None = None,
        shell: str | None = None,
        **platform_options: Any,
    ) -> Job:
        """Submit ``command`` to SLURM: in ``image`` (pyxis by default; ``container``: pyxis,
        enroot, charliecloud or none), or with ``image=None`` straight on the nodes.

        ``gpu_count``: GPUs per node. ``num_nodes``: nodes (rendezvous variables set).
        ``partition``, ``account`` (used, unlike TAO's), ``mounts``: the container's mounts.
        Other keywords are hoist's slurm settings (``time_hours``, ``cpus_per_task`` …).
        """
        options: dict[str, Any] = dict(platform_options)
        if mounts is not None:
            options["container_mounts"] = container_mounts(mounts)
        options.update(partition=partition, account=account, container=container)
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
