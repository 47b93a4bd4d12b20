"""``Job`` and ``Run``: a job record and a workflow run folder as Python objects."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoist._client import Hoist

#: Statuses a job never leaves.
TERMINAL = frozenset({"Complete", "Error", "Canceled"})


def _opt_str(v: Any) -> str | None:
    return None if v is None else str(v)


def _opt_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


class Job:
    """One hoist job as its record stood when this object was made.

    The record's fields are attributes (``id`` is ``job_id``); times are ISO 8601 strings in
    UTC, or None when they have not happened. A job got from a ``Hoist`` handle can refresh
    itself and be waited on, followed or canceled through it.
    """

    __slots__ = (
        "_record",
        "_hoist",
        "job_id",
        "name",
        "platform",
        "profile",
        "status",
        "message",
        "exit_code",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
        "backend_job_id",
        "results_location",
        "retry_count",
        "parent_job_id",
        "workflow_id",
        "image",
        "labels",
        "cancel_requested",
    )

    def __init__(self, record: dict[str, Any], hoist: Hoist | None = None) -> None:
        self._record = dict(record)
        self._hoist = hoist
        r = self._record
        self.job_id: str = str(r.get("job_id", ""))
        self.name: str = str(r.get("name") or "")
        self.platform: str = str(r.get("platform") or "")
        self.profile: str | None = _opt_str(r.get("profile"))
        self.status: str = str(r.get("status") or "Unknown")
        self.message: str = str(r.get("message") or "")
        self.exit_code: int | None = _opt_int(r.get("exit_code"))
        self.created_at: str | None = _opt_str(r.get("created_at"))
        self.updated_at: str | None = _opt_str(r.get("updated_at"))
        self.started_at: str | None = _opt_str(r.get("started_at"))
        self.finished_at: str | None = _opt_str(r.get("finished_at"))
        self.backend_job_id: str | None = _opt_str(r.get("backend_job_id"))
        self.results_location: str | None = _opt_str(r.get("results_location"))
        self.retry_count: int = _opt_int(r.get("retry_count")) or 0
        self.parent_job_id: str | None = _opt_str(r.get("parent_job_id"))
        self.workflow_id: str | None = _opt_str(r.get("workflow_id"))
        self.image: str | None = _opt_str(r.get("image"))
        labels = r.get("labels")
        self.labels: dict[str, str] = (
            {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
        )
        self.cancel_requested: bool = bool(r.get("cancel_requested", False))

    @property
    def id(self) -> str:
        """The job id (``job_id``)."""
        return self.job_id

    @property
    def done(self) -> bool:
        """Whether the job has ended (Complete, Error or Canceled)."""
        return self.status in TERMINAL

    @property
    def ok(self) -> bool:
        """Whether the job completed (exit code 0)."""
        return self.status == "Complete"

    def to_dict(self) -> dict[str, Any]:
        """The record as a dict: the fields ``hoist status --json`` prints, and a few more."""
        return dict(self._record)

    def __repr__(self) -> str:
        bits = [f"id={self.job_id[:8]!r}", f"name={self.name!r}", f"status={self.status!r}"]
        if self.exit_code is not None:
            bits.append(f"exit_code={self.exit_code}")
        bits.append(f"platform={self.platform!r}")
        return f"Job({', '.join(bits)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other._record == self._record

    def __hash__(self) -> int:
        return hash((self.job_id, self.status, self.updated_at))

    def _handle(self) -> Hoist:
        if self._hoist is None:
            raise RuntimeError(
                f"job {self.job_id[:8]} was made without a Hoist handle: "
                "use Hoist().status(job.id) and the handle's methods"
            )
        return self._hoist

    def refresh(self) -> Job:
        """The job's record now (asks the platform when the job is live)."""
        return self._handle().status(self.job_id)

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job ends; see ``Hoist.wait``."""
        return self._handle().wait(self.job_id, timeout=timeout)

    def logs(self, tail: int | None = None) -> str:
        """The job's output (its last ``tail`` lines)."""
        return self._handle().logs(self.job_id, tail=tail)

    def cancel(self) -> bool:
        """Cancel the job; see ``Hoist.cancel``."""
        return self._handle().cancel(self.job_id)


class Run:
    """A workflow run started by ``Hoist.launch``: its folder and the jobs in it.

    The run is driven by a thread of the process that launched it: keep that process alive
    (``run.wait()``) until the run ends, or resume it later with ``hoist launch --resume DIR``.
    """

    __slots__ = ("run_dir", "name", "_hoist")

    def __init__(self, run_dir: str | os.PathLike[str], name: str, hoist: Hoist) -> None:
        self.run_dir = str(run_dir)
        self.name = name
        self._hoist = hoist

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, run_dir={self.run_dir!r})"

    def status(self) -> dict[str, Any]:
        """``status.json`` as it stands: ``state`` (running, complete, failed, canceled),
        ``counts`` and ``jobs`` (per job: task, job_id, status, exit_code, message)."""
        path = Path(self.run_dir) / "status.json"
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"state": "running", "jobs": {}}
        return value if isinstance(value, dict) else {"state": "running", "jobs": {}}

    @property
    def state(self) -> str:
        """``status.json``'s state now."""
        return str(self.status().get("state", "running"))

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the run ends; returns its ``status.json``. TimeoutError after
        ``timeout`` seconds; Ctrl-C stops waiting (the run goes on while this process lives)."""
        return self._hoist._native.wait_run(self.run_dir, timeout)

    def jobs(self) -> list[Job]:
        """The run's jobs submitted so far, in the order ``status.json`` lists them."""
        entries = self.status().get("jobs", {})
        out: list[Job] = []
        if isinstance(entries, dict):
            for entry in entries.values():
                job_id = entry.get("job_id") if isinstance(entry, dict) else None
                if isinstance(job_id, str) and job_id:
                    out.append(self._hoist.status(job_id))
        return out
