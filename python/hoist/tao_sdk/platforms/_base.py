"""What every TAO-compatible SDK class shares: the store, the verbs, TAO's return conventions.

The job store is hoist's (``$HOIST_HOME``, else ``~/.hoist``), shared with the CLI and
``hoist.Hoist``: a job created here is in ``hoist ls``, and any later process re-attaches by id.
Where TAO answers without raising (an unknown id reads ``Unknown`` / "Job not found", logs of
an unknown job are empty, ``cancel_job`` and ``check_path`` return False), so does this.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from hoist._client import Hoist
from hoist._job import Job as HoistJob
from hoist._native import HoistError, InputError, NotFoundError
from hoist.tao_sdk.models import Job, JobStatus
from hoist.tao_sdk.monitor import JobMonitor, check_hooks
from hoist.tao_sdk.script_runner import StagedCommand

logger = logging.getLogger("hoist.tao_sdk")

#: Host variables TAO's container SDKs pass to jobs, under the job's name for them (set only
#: when the caller's env_vars do not name them already).
_CREDENTIALS = (
    ("ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
    ("SECRET_KEY", "AWS_SECRET_ACCESS_KEY"),
    ("S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
    ("S3_BUCKET_NAME", "S3_BUCKET_NAME"),
    ("HF_TOKEN", "HF_TOKEN"),
    ("NGC_KEY", "NGC_KEY"),
)

#: Weights files ``get_checkpoints`` lists (TAO's extensions).
_CHECKPOINT_EXTS = (".pth", ".tlt", ".hdf5", ".pt", ".ckpt", ".engine", ".onnx", ".trt")


def home_for(
    state_file: str | os.PathLike[str] | None, home: str | os.PathLike[str] | None
) -> str | None:
    """The hoist home an SDK uses: ``home``; else, for TAO's ``state_file`` (``x.json`` or
    ``x.db``), the folder ``x`` beside it; else None (``$HOIST_HOME`` or ``~/.hoist``)."""
    if home is not None:
        return os.fspath(home)
    if state_file is None:
        return None
    p = Path(os.fspath(state_file)).expanduser()
    if p.suffix in (".json", ".db"):
        p = p.with_suffix("")
    return str(p.absolute())


def _type_error(name: str, expected: str, got: object) -> TypeError:
    return TypeError(f"create_job() argument '{name}' must be {expected}, not {type(got).__name__}")


class BaseSDK:
    """The TAO ``PlatformSDK`` protocol over one hoist platform."""

    #: hoist's platform name.
    PLATFORM: ClassVar[str] = ""
    #: TAO's ``backend_type`` for the platform.
    BACKEND_TYPE: ClassVar[str] = ""
    #: TAO's ``workspace_id`` for the platform's jobs.
    WORKSPACE_ID: ClassVar[str] = ""
    #: Whether TAO passes ``S3_BUCKET_NAME`` to the platform's jobs (SLURM keeps results on
    #: its shared file system instead).
    PASSES_BUCKET: ClassVar[bool] = True
    #: Whether TAO passes host credentials to jobs at all (not to host processes).
    PASSES_CREDENTIALS: ClassVar[bool] = True

    def __init__(
        self,
        poll_interval: int = 30,
        epoch_milestone_interval: int = 10,
        state_file: str | os.PathLike[str] | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
    ) -> None:
        self.poll_interval = poll_interval
        self.epoch_milestone_interval = epoch_milestone_interval
        self._hoist = Hoist(home_for(state_file, home))
        self._monitor = JobMonitor(self._hoist, poll_interval, epoch_milestone_interval)

    @property
    def hoist(self) -> Hoist:
        """The ``hoist.Hoist`` handle underneath (its store, every other verb)."""
        return self._hoist

    # -- submit -------------------------------------------------------------------------

    def _env(self, env_vars: object) -> dict[str, str]:
        if env_vars is None:
            env: dict[str, str] = {}
        elif isinstance(env_vars, Mapping):
            env = {}
            for k, v in env_vars.items():
                if not isinstance(k, str):
                    raise _type_error("env_vars", "a dict with str keys", k)
                if isinstance(v, (str, int, float)):
                    env[k] = str(v)
                else:
                    raise TypeError(
                        f"create_job() argument 'env_vars' must map str to str; {k!r} maps to "
                        f"{type(v).__name__}"
                    )
        else:
            raise _type_error("env_vars", "a dict of str to str", env_vars)
        if self.PASSES_CREDENTIALS:
            for host, job_name in _CREDENTIALS:
                if job_name == "S3_BUCKET_NAME" and not self.PASSES_BUCKET:
                    continue
                value = os.environ.get(host)
                if value and job_name not in env:
                    env[job_name] = value
        return env

    @staticmethod
    def _gpus(gpu_count: object) -> int | str:
        if isinstance(gpu_count, bool) or not isinstance(gpu_count, int):
            raise _type_error("gpu_count", "int", gpu_count)
        return "all" if gpu_count == -1 else gpu_count

    @staticmethod
    def _nodes(num_nodes: object) -> int:
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int):
            raise _type_error("num_nodes", "int", num_nodes)
        return num_nodes

    def _submit(
        self,
        image: str | None,
        command: str | Sequence[str],
        *,
        gpus: int | str | None,
        env_vars: Mapping[str, str] | None,
        inputs: Mapping[str, str] | None = None,
        outputs: Mapping[str, str | None] | Sequence[str] | None = None,
        hooks: Mapping[str, Any] | None = None,
        nodes: int | None = None,
        options: Mapping[str, Any] | None = None,
        **run: Any,
    ) -> Job:
        if image is not None and not isinstance(image, str):
            raise _type_error("image", "str or None", image)
        if not isinstance(command, (str, list, tuple)):
            raise _type_error("command", "str (or a list of str)", command)
        watch = check_hooks(hooks)
        kwargs: dict[str, Any] = dict(run)
        if isinstance(command, StagedCommand):
            kwargs.update(command.staging)
            command = str(command)
        job_env = self._env(env_vars)
        if inputs is not None:
            if not isinstance(inputs, Mapping):
                raise _type_error("inputs", "a dict {container_path: uri}", inputs)
            kwargs["inputs"] = {**kwargs.get("inputs", {}), **inputs}
        if outputs is not None:
            if isinstance(outputs, str) or not isinstance(outputs, (Mapping, list, tuple)):
                raise _type_error("outputs", "a list of paths or a dict", outputs)
            kwargs["outputs"] = outputs
        record = self._hoist.run(
            command,
            platform=self.PLATFORM,
            image=image,
            gpus=gpus,
            nodes=nodes,
            env=job_env or None,
            **kwargs,
            **{k: v for k, v in (options or {}).items() if v is not None},
        )
        job = self._tao_job(record)
        self._monitor.watch(job, watch)
        return job

    # -- records ------------------------------------------------------------------------

    def _tao_job(self, r: HoistJob) -> Job:
        results = r.results_location or ""
        local = results if results.startswith("/") and Path(results).is_dir() else ""
        return Job(
            id=r.job_id,
            network_arch=r.labels.get("tao.network_arch", ""),
            action=r.labels.get("tao.action", ""),
            workspace_id=self.WORKSPACE_ID,
            backend_type=self.BACKEND_TYPE,
            status=r.status,
            created_at=r.created_at or "",
            backend_job_id=r.backend_job_id or "",
            parent_job_id=r.parent_job_id or "",
            results_dir=results,
            local_results_dir=local,
        )

    def _row(self, r: HoistJob) -> dict[str, Any]:
        """A job as TAO's store returns it (its ``jobs`` table's columns), with hoist's record
        fields as well."""
        row = r.to_dict()
        row.update(self._tao_job(r).to_dict())
        row.update(
            image=r.image or "",
            updated_at=r.updated_at,
            plan_id=None,
            step_id=None,
            last_epoch=None,
            instance_id=None,
        )
        return row

    def _find(self, job_id: str) -> HoistJob | None:
        """This platform's job ``job_id`` now, or None (no such job, or another platform's)."""
        if not isinstance(job_id, str):
            raise TypeError(f"argument 'job_id' must be str, not {type(job_id).__name__}")
        try:
            r = self._hoist.status(job_id)
        except (NotFoundError, InputError):
            return None
        if r.platform != self.PLATFORM:
            logger.warning("job %s runs on %s, not %s", job_id, r.platform, self.PLATFORM)
            return None
        return r

    # -- the PlatformSDK protocol -------------------------------------------------------

    def get_job_status(self, job_id: str) -> JobStatus:
        """The job's status now; ``Unknown`` with "Job not found" when there is no such job."""
        r = self._find(job_id)
        if r is None:
            return JobStatus(job_id=job_id, status="Unknown", message="Job not found")
        return JobStatus(
            job_id=r.job_id, status=r.status, message=r.message, updated_at=r.updated_at or ""
        )

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str:
        """The job's output (its last ``tail`` lines); "" when there is no such job."""
        if self._find(job_id) is None:
            return ""
        return self._hoist.logs(job_id, tail=tail)

    def cancel_job(self, job_id: str) -> bool:
        """Cancel the job: True when it is canceled now or had already ended, False when
        there is no such job or the platform refused (the reason is logged)."""
        if self._find(job_id) is None:
            return False
        try:
            self._hoist.cancel(job_id)
        except HoistError as e:
            logger.warning("cancel of job %s failed: %s", job_id, e)
            return False
        self._monitor.unwatch(job_id)
        return True

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None:
        """Why the job failed: ``err_class``, ``suggestion``, ``job_failure_by_node_event``
        (each ``{"node_event_name", "message"}``), plus hoist's ``cause``, ``retriable``,
        ``rule``, ``events``; None when it did not fail or there is no such job."""
        if self._find(job_id) is None:
            return None
        return self._hoist.why(job_id)

    def get_job_results_dir(self, job_id: str) -> str:
        """Where the job's results are; "" when there is no such job."""
        r = self._find(job_id)
        return (r.results_location or "") if r is not None else ""

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """The job's row (TAO's store columns and hoist's record), or None."""
        r = self._find(job_id)
        return self._row(r) if r is not None else None

    def list_jobs(self, status: str | None = None) -> list[dict[str, Any]]:
        """This platform's jobs (rows as ``get_job``), newest first, optionally of one status."""
        return [self._row(r) for r in self._hoist.ls(status=status, platform=self.PLATFORM)]

    def delete_job_artifacts(self, job_id: str) -> bool:
        """Remove an ended job's artifacts (what its platform keeps: results on this machine or
        the cluster, the container) and the job itself from the store; False for a live job
        or no such job (the reason is logged)."""
        if self._find(job_id) is None:
            return False
        try:
            self._hoist.remove(job_id)
        except HoistError as e:
            logger.warning("could not delete the artifacts of job %s: %s", job_id, e)
            return False
        return True

    def get_checkpoints(self, job_id: str) -> list[str]:
        """Weights files under the job's results, when they are on this machine."""
        results = self.get_job_results_dir(job_id)
        root = Path(results)
        if not results.startswith("/") or not root.is_dir():
            return []
        return sorted(
            str(p)
            for p in root.rglob("*")
            if p.is_file() and p.name.lower().endswith(_CHECKPOINT_EXTS)
        )

    def check_path(self, remote_path: str) -> bool:
        """Whether ``remote_path`` (``s3://``, ``hf_model://``, ``lustre://``, a path) exists
        where this platform's jobs run; False when it cannot be checked (the reason is logged)."""
        try:
            return self._hoist.check_path(remote_path, platform=self.PLATFORM)
        except HoistError as e:
            logger.warning("check_path failed for %s: %s", remote_path, e)
            return False

    def list_path(self, remote_path: str) -> list[str]:
        """The names of the entries under ``remote_path`` (as TAO lists them: the last part of
        each path); [] when it cannot be listed (the reason is logged)."""
        try:
            entries = self._hoist.list_path(remote_path, platform=self.PLATFORM)
            return [e.rstrip("/").rsplit("/", 1)[-1] for e in entries]
        except HoistError as e:
            logger.warning("list_path failed for %s: %s", remote_path, e)
            return []
