"""``hoist.Hoist``: the library's verbs on ``Job`` objects, with async variants.

Every call goes straight to the Rust library (``hoist._native``, no subprocess); blocking calls
release the GIL, so other threads run meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from hoist import _native
from hoist._job import Job, Run

T = TypeVar("T")


class _NotGiven:
    """A default that means "not given": the profile's value applies, else hoist's own
    (shown as that value in signatures)."""

    __slots__ = ("_shown",)

    def __init__(self, shown: str) -> None:
        self._shown = shown

    def __repr__(self) -> str:
        return self._shown


_GPUS: Any = _NotGiven("0")
_NODES: Any = _NotGiven("1")

#: How long one slice of an async wait lasts, so a canceled task frees its thread soon.
_ASYNC_SLICE = 5.0


def _type_name(v: object) -> str:
    return type(v).__name__


def _json_like(v: object) -> bool:
    """Whether ``v`` is what platform settings take: JSON-like values."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_json_like(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _json_like(x) for k, x in v.items())
    return False


def _check_id(verb: str, id: object) -> str:
    if not isinstance(id, str):
        raise TypeError(f"{verb}() argument 'id' must be str, not {_type_name(id)}")
    return id


def _check_tail(verb: str, tail: object) -> int | None:
    if tail is None:
        return None
    if isinstance(tail, bool) or not isinstance(tail, int):
        raise TypeError(f"{verb}() argument 'tail' must be int or None, not {_type_name(tail)}")
    if tail < 0:
        raise ValueError(f"{verb}() argument 'tail' must be 0 or more, not {tail}")
    return tail


def _check_timeout(verb: str, timeout: object) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"{verb}() argument 'timeout' must be a number of seconds or None, "
            f"not {_type_name(timeout)}"
        )
    return float(timeout)


def _check_path(verb: str, name: str, v: object) -> str:
    if not isinstance(v, (str, os.PathLike)):
        raise TypeError(
            f"{verb}() argument '{name}' must be str or os.PathLike, not {_type_name(v)}"
        )
    return os.fspath(v)


class Hoist:
    """A handle on hoist's job store and every platform, configured as the CLI is.

    ``home`` is the store's folder: ``$HOIST_HOME`` when None, else ``~/.hoist``. Handles in
    other processes (or the CLI) with the same home see the same jobs.
    """

    __slots__ = ("_native",)

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        if home is not None:
            home = _check_path("Hoist", "home", home)
        self._native = _native.Hoist(home)

    @property
    def home(self) -> str:
        """The store's folder."""
        return self._native.home

    def __repr__(self) -> str:
        return f"Hoist(home={self.home!r})"

    def _job(self, record: dict[str, Any]) -> Job:
        return Job(record, self)

    # -- submit -------------------------------------------------------------------------

    def _request(
        self, verb: str, command: object, given: dict[str, Any], platform_options: dict[str, Any]
    ) -> dict[str, Any]:
        kwargs = {k: v for k, v in given.items() if v is not None and not isinstance(v, _NotGiven)}
        for k, v in kwargs.items():
            # The native layer reads dicts and lists: other mappings and sequences become them.
            if isinstance(v, Mapping) and not isinstance(v, dict):
                kwargs[k] = dict(v)
            elif isinstance(v, tuple):
                kwargs[k] = list(v)
        for key, value in platform_options.items():
            if not _json_like(value):
                raise TypeError(
                    f"{verb}() argument '{key}' must be JSON-like (None, bool, int, float, str, "
                    f"list or dict with str keys), not {_type_name(value)}"
                )
        options = {k: v for k, v in platform_options.items() if v is not None}
        if options:
            kwargs["platform_options"] = options
        if isinstance(command, tuple):
            command = list(command)
        kwargs["command"] = command
        return kwargs

    def run(
        self,
        command: Sequence[str] | str,
        *,
        platform: str | None = None,
        image: str | None = None,
        gpus: int | str | None = _GPUS,
        nodes: int | None = _NODES,
        env: Mapping[str, str | None] | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Mapping[str, str | None] | Sequence[str] | None = None,
        spec: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        name: str | None = None,
        profile: str | None = None,
        spec_format: str | None = None,
        args: Mapping[str, Any] | None = None,
        mode: str | None = None,
        labels: Mapping[str, str] | None = None,
        cpus: float | None = None,
        memory: int | str | None = None,
        shell: str | None = None,
        workdir: str | None = None,
        upload_excludes: Sequence[str] | None = None,
        parent: str | None = None,
        secret_env: Sequence[str] | None = None,
        **platform_options: Any,
    ) -> Job:
        """Submit a job and return it (Pending or later); ``hoist run -d`` from Python.

        ``command``: a list of words runs as is, a string runs in a shell. ``gpus``: a count,
        ``"all"``, device ids ``"0,1"`` or ``"A100:8"`` (default 0, or the profile's);
        ``nodes`` default 1 (or the profile's). ``env``: values, or None to pass this
        process's value. ``inputs``/``outputs``: ``{key or path: URI}`` as ``-i``/``-o``.
        ``spec``: a dict or the path of a YAML/TOML/JSON file (config mode, ``{config_path}``
        in the command). Other keywords are the platform's settings (``hoist platforms``
        lists them), e.g. ``partition="debug"``, ``namespace="ml"``, ``mounts=[...]``.

        Raises InputError for what the CLI refuses (same message; nothing is stored),
        CredentialError when a credential is missing, TypeError naming a wrong argument.
        """
        if spec is not None and isinstance(spec, os.PathLike):
            spec = os.fspath(spec)
        kwargs = self._request(
            "run",
            command,
            dict(
                platform=platform,
                image=image,
                gpus=gpus,
                nodes=nodes,
                env=env,
                inputs=inputs,
                outputs=outputs,
                spec=spec,
                name=name,
                profile=profile,
                spec_format=spec_format,
                args=args,
                mode=mode,
                labels=labels,
                cpus=cpus,
                memory=memory,
                shell=shell,
                workdir=workdir,
                upload_excludes=upload_excludes,
                parent=parent,
                secret_env=secret_env,
            ),
            platform_options,
        )
        return self._job(self._native.run(**kwargs))

    def dry_run(self, command: Sequence[str] | str, **kwargs: Any) -> dict[str, Any]:
        """What ``run`` with the same arguments would submit, in the platform's own form:
        ``{"text": ..., "json": ...}``. Nothing is submitted or stored."""
        known = {
            "platform",
            "image",
            "gpus",
            "nodes",
            "env",
            "inputs",
            "outputs",
            "spec",
            "name",
            "profile",
            "spec_format",
            "args",
            "mode",
            "labels",
            "cpus",
            "memory",
            "shell",
            "workdir",
            "upload_excludes",
            "parent",
            "secret_env",
        }
        given = {k: v for k, v in kwargs.items() if k in known}
        options = {k: v for k, v in kwargs.items() if k not in known}
        return self._native.dry_run(**self._request("dry_run", command, given, options))

    def launch(
        self,
        path: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        *,
        secrets: Mapping[str, str] | None = None,
        platform: str | None = None,
    ) -> Job | Run:
        """Launch a SkyPilot task YAML: one task is submitted as a ``Job``; a workflow
        (a pipeline, a DAG, a matrix) starts as a ``Run`` driven by a thread of this process."""
        p = _check_path("launch", "path", path)
        out = self._native.launch(p, env, secrets, platform)
        if out.get("kind") == "run":
            return Run(str(out["run_dir"]), str(out.get("name", "")), self)
        return self._job(out["job"])

    # -- track --------------------------------------------------------------------------

    def status(self, id: str) -> Job:
        """The job (id, unique id prefix or name) now; NotFoundError if no job matches."""
        return self._job(self._native.status(_check_id("status", id)))

    def logs(self, id: str, tail: int | None = None) -> str:
        """The job's output so far (its last ``tail`` lines)."""
        return self._native.logs(_check_id("logs", id), _check_tail("logs", tail))

    def follow(self, id: str, tail: int | None = None) -> Iterator[str]:
        """The job's output line by line as it comes, ending when the job ends. Ctrl-C stops
        the iteration; the job keeps running."""
        return self._native.follow(_check_id("follow", id), _check_tail("follow", tail))

    def wait(self, id: str, timeout: float | None = None) -> Job:
        """Block until the job ends; returns it. TimeoutError after ``timeout`` seconds. The GIL
        is released meanwhile; Ctrl-C raises KeyboardInterrupt and leaves the job running."""
        return self._job(self._native.wait(_check_id("wait", id), _check_timeout("wait", timeout)))

    def cancel(self, id: str) -> bool:
        """Cancel the job: True when it is canceled (or the cancel is under way), False when
        it had already ended."""
        return self._native.cancel(_check_id("cancel", id))

    def why(self, id: str) -> dict[str, Any] | None:
        """Why the job failed: ``err_class``, ``cause``, ``suggestion``, ``retriable``, ``rule``,
        ``events``, and TAO's ``job_failure_by_node_event``; None when it did not fail."""
        return self._native.why(_check_id("why", id))

    def results(self, id: str) -> str | None:
        """Where the job's results are (a path or URI)."""
        return self._native.results(_check_id("results", id))

    def download_results(self, id: str, dest: str | os.PathLike[str]) -> int:
        """Copy the job's results into ``dest``; returns the number of files."""
        return self._native.download_results(
            _check_id("download_results", id), _check_path("download_results", "dest", dest)
        )

    def ls(
        self,
        status: str | None = None,
        platform: str | None = None,
        workflow: str | None = None,
        limit: int | None = None,
    ) -> list[Job]:
        """Jobs, newest first, live ones refreshed; filtered as ``hoist ls`` filters."""
        return [self._job(r) for r in self._native.ls(status, platform, workflow, limit)]

    def remove(self, id: str, force: bool = False) -> Job:
        """Forget an ended job and what its platform keeps; ``force`` cancels a live one first."""
        return self._job(self._native.remove(_check_id("remove", id), force))

    # -- data and machines --------------------------------------------------------------

    def check_path(self, path: str, platform: str = "local") -> bool:
        """Whether ``path`` (a path, ``lustre://``, ``s3://``, ``hf_model://`` …) exists where
        jobs of ``platform`` run."""
        return self._native.check_path(platform, path)

    def list_path(self, path: str, platform: str = "local") -> list[str]:
        """The entries under ``path`` where jobs of ``platform`` run."""
        return self._native.list_path(platform, path)

    def instances(self, platform: str = "brev") -> list[dict[str, Any]]:
        """The machines ``platform`` keeps for jobs, each with the hoist jobs on it."""
        return self._native.instances(platform)

    def remove_instance(
        self, name: str, platform: str = "brev", force: bool = False
    ) -> dict[str, Any]:
        """Delete instance ``name``; ``force`` cancels the hoist jobs on it first."""
        return self._native.remove_instance(platform, name, force)

    # -- async --------------------------------------------------------------------------

    @staticmethod
    async def _in_thread(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))

    async def run_async(self, command: Sequence[str] | str, **kwargs: Any) -> Job:
        """``run`` without blocking the event loop."""
        job: Job = await self._in_thread(self.run, command, **kwargs)
        return job

    async def status_async(self, id: str) -> Job:
        """``status`` without blocking the event loop."""
        job: Job = await self._in_thread(self.status, id)
        return job

    async def logs_async(self, id: str, tail: int | None = None) -> str:
        """``logs`` without blocking the event loop."""
        text: str = await self._in_thread(self.logs, id, tail)
        return text

    async def cancel_async(self, id: str) -> bool:
        """``cancel`` without blocking the event loop."""
        done: bool = await self._in_thread(self.cancel, id)
        return done

    async def wait_async(self, id: str, timeout: float | None = None) -> Job:
        """``wait`` without blocking the event loop. Canceling the awaiting task stops the
        wait (within a few seconds its worker thread is free) and leaves the job alone."""
        job_id = _check_id("wait_async", id)
        limit = _check_timeout("wait_async", timeout)
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            step = _ASYNC_SLICE
            if deadline is not None:
                step = min(step, max(0.0, deadline - time.monotonic()))
            try:
                record = await self._in_thread(self._native.wait, job_id, step)
            except TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    now = await self.status_async(job_id)
                    raise TimeoutError(
                        f"job {job_id} is still {now.status} after {limit} s"
                    ) from None
                continue
            return self._job(record)
