"""``import hoist``: the native API on the local platform and the Docker daemon."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import CLI, DOCKER_IMAGE, marker_job, wait_for

import hoist


def test_run_wait_status_logs(h: hoist.Hoist) -> None:
    job = h.run(["sh", "-c", "echo one; echo two"], name="py-basic")
    assert isinstance(job, hoist.Job)
    assert job.id == job.job_id and len(job.id) == 36
    assert job.name == "py-basic" and job.platform == "local"
    assert job.status in ("Pending", "Running", "Complete")
    done = h.wait(job.id, timeout=120)
    assert (done.status, done.exit_code, done.ok, done.done) == ("Complete", 0, True, True)
    assert done.started_at and done.finished_at and done.created_at
    assert h.status(job.id[:8]).status == "Complete"
    assert h.status("py-basic").id == job.id
    assert h.logs(job.id) == "one\ntwo\n"
    assert h.logs(job.id, tail=1) == "two\n"
    d = done.to_dict()
    assert d["job_id"] == job.id and d["status"] == "Complete" and d["exit_code"] == 0
    assert "Complete" in repr(done) and job.id[:8] in repr(done)
    assert h.results(job.id) == done.results_location
    assert [j.id for j in h.ls()] == [job.id]


def test_follow_streams_lines_until_the_job_ends(h: hoist.Hoist, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    job = h.run(["sh", "-c", f"echo first; {marker_job(gate)[2]}"])
    lines = h.follow(job.id)
    # The first line arrives while the job still runs (it waits for the gate).
    assert next(iter(lines)) == "first"
    assert not h.status(job.id).done
    gate.touch()
    assert list(lines) == ["released"]
    assert h.status(job.id).status == "Complete"
    assert list(h.follow(job.id)) == ["first", "released"]
    assert list(h.follow(job.id, tail=1)) == ["released"]


def test_wait_with_a_timeout_raises_timeout_error_and_leaves_the_job(
    h: hoist.Hoist, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    job = h.run(marker_job(gate))
    with pytest.raises(TimeoutError) as e:
        h.wait(job.id, timeout=0.3)
    assert job.id in str(e.value)
    wait_for("the job to run", lambda: h.status(job.id).status == "Running")
    gate.touch()
    assert h.wait(job.id, timeout=120).status == "Complete"


def test_cancel_and_why(h: hoist.Hoist, tmp_path: Path) -> None:
    long = h.run(marker_job(tmp_path / "never"))
    wait_for("the job to run", lambda: h.status(long.id).status == "Running")
    assert h.cancel(long.id) is True
    assert h.wait(long.id, timeout=120).status == "Canceled"
    assert h.cancel(long.id) is False  # already ended

    bad = h.run("echo 'ModuleNotFoundError: No module named torchvision' >&2; exit 3")
    bad = h.wait(bad.id, timeout=120)
    assert (bad.status, bad.exit_code, bad.ok) == ("Error", 3, False)
    why = h.why(bad.id)
    assert why is not None
    assert why["err_class"] == "ERR_CONFIG"
    assert "torchvision" in json.dumps(why["job_failure_by_node_event"])
    assert all({"node_event_name", "message"} <= set(e) for e in why["job_failure_by_node_event"])
    assert why["suggestion"]
    ok = h.wait(h.run(["true"]).id, timeout=120)
    assert h.why(ok.id) is None


def test_async_variants_run_on_the_event_loop(h: hoist.Hoist, tmp_path: Path) -> None:
    gate = tmp_path / "gate"

    async def main() -> None:
        job = await h.run_async(["sh", "-c", "echo async"])
        blocked = await h.run_async(marker_job(gate))
        # Both waits are in flight at once; the loop keeps running meanwhile.
        first = asyncio.ensure_future(h.wait_async(job.id))
        second = asyncio.ensure_future(h.wait_async(blocked.id))
        done = await first
        assert done.status == "Complete"
        assert not second.done()
        assert (await h.status_async(blocked.id)).status in ("Pending", "Running")
        with pytest.raises(TimeoutError):
            await h.wait_async(blocked.id, timeout=0.2)
        gate.touch()
        assert (await second).status == "Complete"
        assert await h.logs_async(job.id) == "async\n"
        other = await h.run_async(marker_job(tmp_path / "never"))
        assert await h.cancel_async(other.id) is True
        assert (await h.wait_async(other.id)).status == "Canceled"

    asyncio.run(main())


def cli_error(*args: str) -> str:
    """What the CLI prints for a refused ``hoist ARGS`` (exit 2), without its ``error: ``
    (the ``submit failed: `` before what the library refused on submit stays: Python says it
    too)."""
    out = subprocess.run([str(CLI), *args], capture_output=True, text=True)
    assert out.returncode == 2, out
    assert out.stderr.startswith("error: "), out.stderr
    return out.stderr[len("error: ") :].rstrip("\n")


@pytest.mark.parametrize(
    ("flags", "kwargs"),
    [
        (["--gpus", "abc"], {"gpus": "abc"}),
        (["--env", "=x"], {"env": ["=x"]}),
        (["--env", "1BAD=x"], {"env": ["1BAD=x"]}),
        (["--nodes", "0"], {"nodes": 0}),
        (["--memory", "lots"], {"memory": "lots"}),
        (["--input", "no-uri"], {"inputs": ["no-uri"]}),
        (["--input", "data=s3://b/x"], {"inputs": {"data": "s3://b/x"}}),
        (["--partition", "debug"], {"partition": "debug"}),
        (["--profile", "nope"], {"profile": "nope"}),
    ],
)
def test_input_errors_say_what_the_cli_says_and_store_nothing(
    h: hoist.Hoist, home: Path, flags: list[str], kwargs: dict[str, object]
) -> None:
    want = cli_error("run", "-d", *flags, "--", "true")
    with pytest.raises(hoist.InputError) as e:
        h.run(["true"], **kwargs)  # type: ignore[arg-type]
    assert str(e.value) == want
    assert isinstance(e.value, hoist.HoistError)
    assert h.ls() == []
    listed = subprocess.run([str(CLI), "ls", "--json"], capture_output=True, text=True)
    assert json.loads(listed.stdout) == []


def test_an_empty_command_is_refused_as_the_cli_refuses_it(h: hoist.Hoist, home: Path) -> None:
    want = cli_error("run", "-d", "--")
    for command in ("", [], ["  "]):
        with pytest.raises(hoist.InputError) as e:
            h.run(command)
        assert str(e.value) == want
    assert h.ls() == []


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda h: h.run(42), "command"),
        (lambda h: h.run([1, 2]), "command"),
        (lambda h: h.run(["true"], gpus=1.5), "gpus"),
        (lambda h: h.run(["true"], nodes="2"), "nodes"),
        (lambda h: h.run(["true"], env={"A": 1}), "env"),
        (lambda h: h.run(["true"], image=3), "image"),
        (lambda h: h.run(["true"], labels=["a"]), "labels"),
        (lambda h: h.run(["true"], partition=object()), "partition"),
        (lambda h: h.status(7), "id"),
        (lambda h: h.logs("x", tail="5"), "tail"),
        (lambda h: h.wait("x", timeout="soon"), "timeout"),
        (lambda h: hoist.Hoist(home=3), "home"),
    ],
)
def test_wrong_types_raise_type_error_naming_the_argument(
    h: hoist.Hoist, call: object, argument: str
) -> None:
    with pytest.raises(TypeError) as e:
        call(h)  # type: ignore[operator]
    assert f"'{argument}'" in str(e.value), str(e.value)
    assert h.ls() == []


def test_unknown_ids_platform_options_and_missing_credentials(h: hoist.Hoist) -> None:
    with pytest.raises(hoist.NotFoundError) as nf:
        h.status("no-such-job")
    assert "no-such-job" in str(nf.value) and "hint:" in str(nf.value)
    with pytest.raises(hoist.InputError) as bad:
        h.run(["true"], bogus_setting=1)
    assert "bogus_setting" in str(bad.value)
    with pytest.raises(hoist.InputError) as other:
        h.run(["true"], platform="docker", image=DOCKER_IMAGE, partition="debug")
    assert "partition" in str(other.value) and "slurm" in str(other.value)
    with pytest.raises(hoist.CredentialError) as cred:
        h.run(["true"], platform="slurm")
    assert "SLURM_HOSTNAME" in str(cred.value)
    assert h.ls() == []


def test_ls_filters(h: hoist.Hoist) -> None:
    ok = h.wait(h.run(["true"]).id, timeout=120)
    bad = h.wait(h.run(["false"]).id, timeout=120)
    assert [j.id for j in h.ls()] == [bad.id, ok.id]
    assert [j.id for j in h.ls(status="Error")] == [bad.id]
    assert [j.id for j in h.ls(platform="local", limit=1)] == [bad.id]
    assert h.ls(platform="docker") == []
    with pytest.raises(hoist.InputError):
        h.ls(status="Exploded")


def test_docker_job_through_the_native_api(h: hoist.Hoist, docker_up: None) -> None:
    job = h.run(
        ["sh", "-c", "echo in-container; cat /etc/hostname >/dev/null"],
        platform="docker",
        image=DOCKER_IMAGE,
        auto_remove=True,
    )
    assert job.platform == "docker" and job.image == DOCKER_IMAGE
    done = h.wait(job.id, timeout=300)
    assert done.status == "Complete", done
    assert h.logs(job.id) == "in-container\n"
    assert h.remove(job.id).id == job.id
    assert h.ls() == []


def test_launch_a_task_and_a_workflow(h: hoist.Hoist, tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("name: one\nenvs:\n  WHO: null\nrun: echo hello $WHO\n")
    job = h.launch(task, env={"WHO": "python"}, platform="local")
    assert isinstance(job, hoist.Job)
    assert h.wait(job.id, timeout=120).status == "Complete"
    assert "hello python" in h.logs(job.id)

    pipeline = tmp_path / "pipe.yaml"
    pipeline.write_text(
        "name: pipe\n---\nname: prep\nrun: echo prep\n---\nname: train\nrun: echo train\n"
    )
    run = h.launch(pipeline, platform="local")
    assert isinstance(run, hoist.Run)
    assert run.name == "pipe" and Path(run.run_dir).is_dir()
    final = run.wait(timeout=300)
    assert final["state"] == "complete", final
    jobs = run.jobs()
    assert [j.name for j in jobs] == ["prep", "train"]
    assert all(j.status == "Complete" for j in jobs)
    assert run.state == "complete"
    # Driven by a detached `hoist __workflow` process, not by this interpreter.
    log = (Path(run.run_dir) / "driver.log").read_text()
    first = log.splitlines()[0]
    assert "driver " in first and f"driver {os.getpid()} " not in first, log
