"""The TAO Execution SDK's data models (``tao_sdk.models``), as hoist returns them.

``Job``, ``JobStatus`` and ``Checkpoint`` have TAO's fields and defaults; ``CredentialError``
is hoist's own (``hoist.CredentialError``), so one ``except`` catches it from either API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from hoist._native import CredentialError

__all__ = ["Checkpoint", "CredentialError", "Job", "JobStatus", "TERMINAL_STATUSES"]

#: Statuses a job never leaves.
TERMINAL_STATUSES = frozenset({"Complete", "Error", "Canceled"})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass
class Job:
    """A submitted job, as TAO's ``Job``: ``id`` is hoist's job id (a uuid4)."""

    id: str
    network_arch: str
    action: str
    workspace_id: str
    backend_type: str = ""
    status: str = "Pending"
    created_at: str = field(default_factory=_now)
    backend_job_id: str = ""
    parent_job_id: str = ""
    results_dir: str = ""
    local_results_dir: str = ""
    base_checkpoint: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict, ``id`` renamed to ``job_id`` (as TAO serializes it)."""
        return {
            "job_id": self.id,
            "network_arch": self.network_arch,
            "action": self.action,
            "workspace_id": self.workspace_id,
            "backend_type": self.backend_type,
            "status": self.status,
            "created_at": self.created_at,
            "backend_job_id": self.backend_job_id,
            "parent_job_id": self.parent_job_id,
            "results_dir": self.results_dir,
            "local_results_dir": self.local_results_dir,
            "base_checkpoint": self.base_checkpoint,
        }


@dataclass
class JobStatus:
    """A job's status now: ``Pending``, ``Running``, ``Paused``, ``Complete``, ``Error``,
    ``Canceled``, ``Canceling`` or ``Unknown`` (no such job: message "Job not found")."""

    job_id: str
    status: str
    message: str = ""
    updated_at: str = field(default_factory=_now)


@dataclass
class Checkpoint:
    """A model checkpoint produced during training."""

    path: str
    epoch: int
    metric_name: str = ""
    metric_value: float = 0.0
