"""``create_job(hooks=...)``: TAO's job monitor callbacks, fired from a watcher thread per job.

``on_complete(job)`` when the job completes, ``on_error(job)`` when it fails, and
``on_epoch_milestone(job, epoch, total)`` while it runs, when its log's last ``Epoch N[/M]``
has grown to a multiple of ``epoch_milestone_interval``. The watcher waits on hoist (which
hears of the end at once where the platform says so) rather than sleeping ``poll_interval``
between polls, so a hook fires as soon as the job ends.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from hoist._client import Hoist
from hoist._native import HoistError
from hoist.tao_sdk.models import TERMINAL_STATUSES, Job

logger = logging.getLogger(__name__)

_EPOCH = re.compile(r"[Ee]poch\s+(\d+)(?:/(\d+))?")
_HOOKS = ("on_complete", "on_error", "on_epoch_milestone")


def check_hooks(hooks: object) -> dict[str, Callable[..., Any]]:
    """``hooks`` as a dict of callables; TypeError naming what is wrong."""
    if hooks is None:
        return {}
    if not isinstance(hooks, Mapping):
        raise TypeError(f"create_job() argument 'hooks' must be a dict, not {type(hooks).__name__}")
    out: dict[str, Callable[..., Any]] = {}
    for name, fn in hooks.items():
        if name not in _HOOKS:
            raise TypeError(
                f"create_job() hooks: unknown hook {name!r} (hooks: {', '.join(_HOOKS)})"
            )
        if not callable(fn):
            raise TypeError(f"create_job() hooks: {name!r} must be callable")
        out[name] = fn
    return out


class JobMonitor:
    """Watcher threads for jobs submitted with hooks (daemon threads: they never keep the
    interpreter alive)."""

    def __init__(self, hoist: Hoist, poll_interval: float, epoch_milestone_interval: int) -> None:
        self._hoist = hoist
        self._poll = max(float(poll_interval), 0.1)
        self._every = max(int(epoch_milestone_interval), 1)
        self._stopped: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def watch(self, job: Job, hooks: dict[str, Callable[..., Any]]) -> None:
        if not hooks:
            return
        stop = threading.Event()
        with self._lock:
            self._stopped[job.id] = stop
        threading.Thread(
            target=self._loop,
            args=(job, hooks, stop),
            name=f"hoist-hooks-{job.id[:8]}",
            daemon=True,
        ).start()

    def unwatch(self, job_id: str) -> None:
        with self._lock:
            stop = self._stopped.pop(job_id, None)
        if stop is not None:
            stop.set()

    def _loop(self, job: Job, hooks: dict[str, Callable[..., Any]], stop: threading.Event) -> None:
        last_epoch = 0
        while not stop.is_set():
            try:
                record = self._hoist.wait(job.id, timeout=self._poll)
            except TimeoutError:
                if "on_epoch_milestone" in hooks:
                    last_epoch = self._milestone(job, hooks, last_epoch)
                continue
            except HoistError as e:
                logger.warning("watching job %s: %s", job.id, e)
                stop.wait(self._poll)
                continue
            job.status = record.status
            if record.status == "Complete":
                self._fire(hooks, "on_complete", job)
            elif record.status == "Error":
                self._fire(hooks, "on_error", job)
            if record.status in TERMINAL_STATUSES:
                break
        self.unwatch(job.id)

    def _milestone(self, job: Job, hooks: dict[str, Callable[..., Any]], last: int) -> int:
        try:
            current = self._hoist.status(job.id)
            job.status = current.status
            if current.status != "Running":
                return last
            matches = _EPOCH.findall(self._hoist.logs(job.id, tail=20))
        except HoistError as e:
            logger.debug("epoch check of job %s: %s", job.id, e)
            return last
        if not matches:
            return last
        epoch, total = int(matches[-1][0]), int(matches[-1][1] or 0)
        if epoch > last and epoch % self._every == 0:
            self._fire(hooks, "on_epoch_milestone", job, epoch, total)
            return epoch
        return last

    @staticmethod
    def _fire(hooks: dict[str, Callable[..., Any]], name: str, *args: Any) -> None:
        fn = hooks.get(name)
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            logger.exception("hook %r raised", name)
