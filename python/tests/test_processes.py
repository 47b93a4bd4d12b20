"""Across threads and processes: re-attach through the store, the GIL released while waiting,
Ctrl-C during a wait."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from conftest import marker_job, python, wait_for

import hoist


def test_a_second_process_sees_and_cancels_the_job(h: hoist.Hoist, tmp_path: Path) -> None:
    job = h.run(marker_job(tmp_path / "never"), name="reattach")
    wait_for("the job to run", lambda: h.status(job.id).status == "Running")
    # Another interpreter with the same HOIST_HOME: nothing shared but the store.
    child = python(
        "import json, sys, hoist\n"
        "h = hoist.Hoist()\n"
        f"job = h.status({job.id!r})\n"
        "names = [j.name for j in h.ls()]\n"
        "print(json.dumps({'status': job.status, 'names': names, 'canceled': h.cancel(job.id)}))\n"
    )
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    seen = json.loads(out)
    assert seen == {"status": "Running", "names": ["reattach"], "canceled": True}
    assert h.wait(job.id, timeout=120).status == "Canceled"


def test_a_wait_releases_the_gil(h: hoist.Hoist, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    job = h.run(marker_job(gate))
    ended = threading.Event()
    result: list[hoist.Job] = []

    def waiter() -> None:
        result.append(h.wait(job.id))
        ended.set()

    t = threading.Thread(target=waiter, name="waiter")
    t.start()

    def in_native_wait() -> bool:
        # The waiter's innermost Python frame is Hoist.wait: it is inside the native call.
        frame = sys._current_frames().get(t.ident or -1)
        return frame is not None and frame.f_code.co_name == "wait"

    wait_for("the waiter to be inside wait()", in_native_wait)
    # While it waits (the job cannot end before the gate exists), this thread gets answers.
    now = h.status(job.id)
    logs = h.logs(job.id)
    assert not ended.is_set()
    assert now.status in ("Pending", "Running") and logs == ""
    gate.touch()
    t.join(timeout=120)
    assert ended.is_set() and result[0].status == "Complete"


def test_ctrl_c_in_wait_raises_keyboard_interrupt_and_leaves_the_job(
    h: hoist.Hoist, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    child = python(
        "import hoist, sys\n"
        "h = hoist.Hoist()\n"
        f"job = h.run({marker_job(gate)!r}, name='survivor')\n"
        "try:\n"
        "    print(job.id, flush=True)\n"
        "    h.wait(job.id)\n"
        "    print('wait returned', flush=True)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
    )
    assert child.stdout is not None
    job_id = child.stdout.readline().strip()
    assert job_id, child.stderr.read() if child.stderr else ""
    wait_for("the job to run", lambda: h.status(job_id).status == "Running")
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.strip() == "interrupted"
    # The job was left alone: still running, and it completes once released.
    assert h.status(job_id).status == "Running"
    gate.touch()
    assert h.wait(job_id, timeout=120).status == "Complete"
