"""Smoke check of the native module `hoist._native` on the local platform.

Run with the interpreter of a venv where the wheel is installed:

    python crates/hoist-python/smoke.py

Every check waits for a condition with a deadline; nothing sleeps as synchronization. Exits 0
and prints "smoke: ok" when every check passed.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time

import hoist._native as n

DEADLINE = 60.0


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)
    print(f"  ok: {what}")


def raises(exc: type[BaseException], fn, *args, **kwargs) -> BaseException:
    try:
        fn(*args, **kwargs)
    except exc as e:
        return e
    raise AssertionError(f"{fn.__name__}{args} did not raise {exc.__name__}")


def main() -> None:
    home = tempfile.mkdtemp(prefix="hoist-smoke-")
    h = n.Hoist(home=home)
    check(h.home == home, "home property")

    # run / wait / status / logs
    j = h.run(["sh", "-c", "echo one; echo two"], name="smoke")
    for key in (
        "job_id",
        "name",
        "platform",
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
        "profile",
    ):
        check(key in j, f"record has {key}")
    done = h.wait(j["job_id"], timeout=DEADLINE)
    check(
        done["status"] == "Complete" and done["exit_code"] == 0, "wait returns Complete"
    )
    check(h.status(j["job_id"][:8])["status"] == "Complete", "status by id prefix")
    check(h.logs(j["job_id"]) == "one\ntwo\n", "logs")
    check(h.logs(j["job_id"], tail=1) == "two\n", "logs tail")
    check(list(h.follow(j["job_id"])) == ["one", "two"], "follow of an ended job")
    check(h.why(j["job_id"]) is None, "why of a completed job is None")
    check(h.cancel(j["job_id"]) is False, "cancel of an ended job is False")

    # a shell string, a failure, why
    bad = h.run("echo boom >&2; exit 3")
    bad = h.wait(bad["job_id"], timeout=DEADLINE)
    check(
        bad["status"] == "Error" and bad["exit_code"] == 3,
        "shell command fails with its code",
    )
    why = h.why(bad["job_id"])
    check(isinstance(why, dict) and why["err_class"] == "ERR_PROGRAM", "why err_class")
    check(
        "suggestion" in why and isinstance(why["job_failure_by_node_event"], list),
        "why TAO keys",
    )

    # follow while running, wait timeout, GIL released, cancel
    slow = h.run(["sh", "-c", "echo start; sleep 30"])
    lines = h.follow(slow["job_id"])
    check(next(lines) == "start", "follow yields a running job's line")
    e = raises(TimeoutError, h.wait, slow["job_id"], timeout=0.3)
    check("still" in str(e), "wait timeout raises TimeoutError")
    seen: list[str] = []
    t = threading.Thread(
        target=lambda: seen.append(h.wait(slow["job_id"], timeout=DEADLINE)["status"])
    )
    t.start()
    calls = 0
    end = time.monotonic() + 5
    while time.monotonic() < end and calls < 20:
        h.status(
            slow["job_id"]
        )  # runs while the other thread waits: the GIL is released
        calls += 1
    check(calls == 20, "status calls go on while another thread waits")
    check(h.cancel(slow["job_id"]) is True, "cancel of a running job is True")
    t.join(DEADLINE)
    check(seen and seen[0] == "Canceled", "the waiting thread sees Canceled")
    check(isinstance(list(lines), list), "follow ends once the job ends")

    # Ctrl-C in a wait raises KeyboardInterrupt and leaves the job alone
    long = h.run(["sleep", "30"])
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    raises(KeyboardInterrupt, h.wait, long["job_id"])
    check(time.monotonic() - started < DEADLINE, "KeyboardInterrupt ends the wait")
    check(
        h.status(long["job_id"])["status"] == "Running", "the job runs on after Ctrl-C"
    )
    h.cancel(long["job_id"])

    # ls, results, remove
    jobs = h.ls()
    check(len(jobs) == 4 and jobs[0]["job_id"] == long["job_id"], "ls newest first")
    check(len(h.ls(status="Error")) == 1, "ls by status")
    check(h.ls(limit=1)[0]["job_id"] == long["job_id"], "ls limit")
    check(isinstance(h.results(j["job_id"]), str), "results location")
    out = tempfile.mkdtemp(prefix="hoist-smoke-dl-")
    check(isinstance(h.download_results(j["job_id"], out), int), "download_results")
    removed = h.remove(j["job_id"])
    check(removed["job_id"] == j["job_id"], "remove returns the record")
    raises(n.NotFoundError, h.status, j["job_id"])

    # dry run, parent, labels, env
    d = h.dry_run(["echo", "x"], env={"A": "1"}, labels={"team": "ml"})
    check("text" in d and "json" in d, "dry_run")
    child = h.run(
        ["sh", "-c", "echo $A"],
        env={"A": "42"},
        parent=bad["job_id"],
        labels={"k": "v"},
    )
    child = h.wait(child["job_id"], timeout=DEADLINE)
    check(
        child["parent_job_id"] == bad["job_id"] and child["labels"] == {"k": "v"},
        "parent and labels",
    )
    check(h.logs(child["job_id"]) == "42\n", "env reaches the job")

    # errors
    before = len(h.ls())
    e = raises(n.InputError, h.run, [])
    check(
        "no command given" in str(e) and "hint:" in str(e),
        "InputError with the CLI's hint",
    )
    e = raises(n.InputError, h.run, ["true"], gpus="lots")
    check(isinstance(e, n.HoistError), "InputError is a HoistError")
    e = raises(n.InputError, h.run, ["true"], platform_options={"partiton": "x"})
    check(
        "partition" in str(e), "an unknown platform option is named, with the nearest"
    )
    e = raises(
        n.InputError,
        h.run,
        ["true"],
        platform="slurm",
        platform_options={"namespace": "x"},
    )
    check("kubernetes" in str(e), "another platform's option is refused")
    raises(n.InputError, h.run, ["true"], platform="nope")
    raises(n.CredentialError, h.run, ["true"], env={"HOIST_SMOKE_UNSET": None})
    check(len(h.ls()) == before, "nothing stored on a refusal")
    e = raises(TypeError, h.run, ["true"], gpus=[1])
    check("gpus" in str(e), "TypeError names the argument")
    e = raises(TypeError, h.run, 5)
    check("command" in str(e), "TypeError for the command")
    raises(TypeError, h.run, ["true"], bogus=1)
    raises(TypeError, h.wait, 5)
    raises(n.NotFoundError, h.status, "no-such-job")
    raises(n.NotFoundError, h.logs, "no-such-job")

    # launch: one task, then a pipeline
    task = os.path.join(home, "task.yaml")
    with open(task, "w") as f:
        f.write("name: t1\nrun: echo from-task $GREETING\nenvs:\n  GREETING: hello\n")
    r = h.launch(task, env={"GREETING": "hi"}, platform="local")
    check(r["kind"] == "job", "launch of one task is a job")
    jd = h.wait(r["job"]["job_id"], timeout=DEADLINE)
    check(
        jd["status"] == "Complete" and "from-task hi" in h.logs(jd["job_id"]),
        "the task ran",
    )
    pipe = os.path.join(home, "pipe.yaml")
    with open(pipe, "w") as f:
        f.write("name: p1\n---\nname: a\nrun: echo a\n---\nname: b\nrun: echo b\n")
    r = h.launch(pipe, platform="local")
    check(r["kind"] == "run" and r["name"] == "p1", "launch of a pipeline is a run")
    st = h.wait_run(r["run_dir"], timeout=DEADLINE)
    check(st["state"] == "complete", "wait_run returns the final state")
    check(len(h.ls(workflow=h.ls(limit=1)[0]["workflow_id"])) == 2, "the run's jobs")
    raises(n.InputError, h.wait_run, home)

    print("smoke: ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"smoke: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
