"""``VirtualEnvSDK``: TAO's no-container backend over hoist's local platform.

Jobs are host processes under hoist's detached supervisor: they outlive this interpreter, are
canceled by process group (SIGTERM, then SIGKILL after ``grace_seconds``), and are in the same
store as every other platform's.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hoist.tao_sdk.models import Job
from hoist.tao_sdk.platforms._base import BaseSDK

__all__ = ["VirtualEnvSDK"]

_PLACEHOLDER = re.compile(r"\{(results_dir|job_id)\}")
#: What the job's environment calls TAO's placeholders ({config_path} hoist fills itself).
_PLACEHOLDER_ENV = {"results_dir": "HOIST_RESULTS_DIR", "job_id": "TAO_JOB_ID"}


def _shell_word(token: str) -> str:
    """``token`` as one shell word, ``{results_dir}`` and ``{job_id}`` taken from the job's
    environment when it runs."""
    out: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(token):
        if m.start() > pos:
            out.append(shlex.quote(token[pos : m.start()]))
        out.append(f'"${_PLACEHOLDER_ENV[m.group(1)]}"')
        pos = m.end()
    if pos < len(token) or not out:
        out.append(shlex.quote(token[pos:]))
    return "".join(out)


def _gpu_ids(gpu_count: object, gpu_ids: object) -> str | None:
    """TAO's ``gpu_ids`` as hoist's device list (``"0,1"``, one id ``"device=3"``)."""
    if isinstance(gpu_count, bool) or not isinstance(gpu_count, int):
        raise TypeError(f"argument 'gpu_count' must be int, not {type(gpu_count).__name__}")
    if gpu_count < 0:
        raise ValueError("gpu_count must be a non-negative integer")
    if gpu_ids is None:
        return None
    if isinstance(gpu_ids, str):
        raw: list[object] = [p for p in gpu_ids.split(",") if p.strip()]
    elif isinstance(gpu_ids, Sequence):
        raw = list(gpu_ids)
    else:
        raise TypeError(
            "argument 'gpu_ids' must be a sequence of integers or a comma-separated string"
        )
    ids: list[int] = []
    for d in raw:
        if isinstance(d, bool) or not (
            isinstance(d, int) or (isinstance(d, str) and d.strip().isdigit())
        ):
            raise ValueError("gpu_ids must contain non-negative integers")
        ids.append(int(d))
    if len(set(ids)) != len(ids):
        raise ValueError("gpu_ids must not contain duplicates")
    if len(ids) != gpu_count:
        raise ValueError("gpu_count must match the number of gpu_ids")
    if not ids:
        return None
    return f"device={ids[0]}" if len(ids) == 1 else ",".join(str(i) for i in ids)


class VirtualEnvSDK(BaseSDK):
    """Python scripts (``create_python_job``) or any command (``create_job`` with
    ``image=None``) as processes on this machine, with a virtual environment's interpreter.

    ``venv_path``: the environment (default: this interpreter's, ``sys.prefix``).
    ``work_dir`` is accepted for TAO's signature: hoist keeps each job's files in its store
    (``$HOIST_HOME/jobs/<id>``) and results in ``$HOIST_HOME/results/<id>``.

    ``gpu_count`` is launch metadata as in TAO: a positive count without ``gpu_ids`` keeps the
    caller's CUDA visibility, 0 hides every device, ``gpu_ids`` sets ``CUDA_VISIBLE_DEVICES``.
    """

    PLATFORM = "local"
    BACKEND_TYPE = "virtualenv"
    WORKSPACE_ID = "local"
    PASSES_CREDENTIALS = False

    def __init__(
        self,
        venv_path: str | os.PathLike[str] | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        state_file: str | os.PathLike[str] | None = None,
        *,
        poll_interval: int = 30,
        epoch_milestone_interval: int = 10,
        home: str | os.PathLike[str] | None = None,
    ) -> None:
        venv = Path(os.fspath(venv_path) if venv_path is not None else sys.prefix).expanduser()
        python = venv / "bin" / "python"
        if not python.exists():
            raise ValueError(f"{venv} is not a virtual environment: {python} does not exist")
        self.venv_path = venv.absolute()
        self.python_path = self.venv_path / "bin" / "python"
        self.work_dir = None if work_dir is None else Path(os.fspath(work_dir))
        super().__init__(poll_interval, epoch_milestone_interval, state_file, home=home)

    def _venv_env(self, gpu_count: int, ids: str | None) -> dict[str, str]:
        env = {
            "VIRTUAL_ENV": str(self.venv_path),
            "PATH": f"{self.venv_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
        if ids is None and gpu_count == 0:
            env["CUDA_VISIBLE_DEVICES"] = ""
        return env

    def create_job(
        self,
        image: str | None,
        command: str | Sequence[str],
        gpu_count: int = 1,
        env_vars: Mapping[str, str] | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Sequence[str] | Mapping[str, str | None] | None = None,
        hooks: Mapping[str, Any] | None = None,
        gpu_ids: Sequence[int] | str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        *,
        name: str | None = None,
        shell: str | None = None,
        **platform_options: Any,
    ) -> Job:
        """Run ``command`` on this machine with the environment's ``bin`` first on PATH.
        ``image`` must be None (no containers here)."""
        ids = _gpu_ids(gpu_count, gpu_ids)
        env = self._venv_env(gpu_count, ids)
        env.update(self._env(env_vars))
        return self._submit(
            image,
            command,
            gpus=ids,
            env_vars=env,
            inputs=inputs,
            outputs=outputs,
            hooks=hooks,
            options=platform_options,
            name=name,
            shell=shell,
            workdir=os.fspath(cwd) if cwd is not None else None,
        )

    def create_python_job(
        self,
        script: str | os.PathLike[str],
        specs: dict[str, Any] | None = None,
        config_format: str = "json",
        script_args: Sequence[str] | None = None,
        env_vars: Mapping[str, str] | None = None,
        inputs: Mapping[str, str] | Sequence[str] | None = None,
        outputs: Mapping[str, str | None] | Sequence[str] | None = None,
        upload_excludes: Sequence[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        network_arch: str = "",
        action: str = "train",
        hooks: Mapping[str, Any] | None = None,
        gpu_count: int = 1,
        gpu_ids: Sequence[int] | str | None = None,
    ) -> Job:
        """Run ``script`` with the environment's interpreter. ``script_args`` is an argv
        whose tokens may hold ``{config_path}`` (the spec written from ``specs``),
        ``{results_dir}`` and ``{job_id}``. ``outputs`` are spec keys routed under the
        job's results; remote values in ``specs`` are fetched first (TAO refuses them)."""
        base = Path(os.fspath(cwd)).expanduser() if cwd is not None else Path.cwd()
        script_path = Path(os.fspath(script)).expanduser()
        if not script_path.is_absolute():
            script_path = base / script_path
        script_path = script_path.resolve()
        if not script_path.is_file():
            raise ValueError(f"Python script does not exist: {script_path}")
        if script_args is not None and (
            isinstance(script_args, str) or not all(isinstance(a, str) for a in script_args)
        ):
            raise TypeError("script_args must be a sequence of str (an argv), not one string")
        fmt = config_format.lower() if isinstance(config_format, str) else config_format
        if specs is not None and fmt not in ("json", "yaml", "toml"):
            raise ValueError("config_format must be one of: json, yaml, toml")
        ids = _gpu_ids(gpu_count, gpu_ids)
        words = [str(self.python_path), str(script_path), *(script_args or [])]
        command: str | list[str]
        if any(_PLACEHOLDER.search(w) for w in words):
            command = " ".join(_shell_word(w) for w in words)
        else:
            command = words
        env = self._venv_env(gpu_count, ids)
        env.update(self._env(env_vars))
        staging: dict[str, Any] = {}
        if specs is not None:
            staging.update(spec=dict(specs), spec_format=fmt, mode="config")
        if outputs is not None:
            staging["outputs"] = list(outputs) if isinstance(outputs, (list, tuple)) else outputs
        if inputs is not None and isinstance(inputs, Mapping):
            staging["inputs"] = {
                k: v for k, v in inputs.items() if isinstance(v, str) and "://" in v
            }
        if upload_excludes:
            staging["upload_excludes"] = list(upload_excludes)
        return self._submit(
            None,
            command,
            gpus=ids,
            env_vars=env,
            hooks=hooks,
            workdir=str(base.absolute()),
            labels={
                k: v for k, v in (("tao.network_arch", network_arch), ("tao.action", action)) if v
            },
            **{k: v for k, v in staging.items() if v},
        )
