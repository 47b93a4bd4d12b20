"""``hoist.tao_sdk``: TAO SDK scripts, unchanged but for their import line, on Docker and SLURM;
TAO's models and conventions; what hoist does where TAO does not (inputs, outputs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import DOCKER_IMAGE, S3_ROOT, marker_job, s3_put, wait_for

import hoist
from hoist.tao_sdk import CredentialError, Job, JobStatus, build_entrypoint
from hoist.tao_sdk.platforms.docker import DockerSDK
from hoist.tao_sdk.platforms.slurm import SlurmSDK
from hoist.tao_sdk.platforms.virtualenv import VirtualEnvSDK

SCRIPTS = Path(__file__).parent / "scripts"


def run_script(name: str, *args: str) -> dict[str, list[Any]]:
    """Run a TAO-style script in its own interpreter; its JSON lines by key."""
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, f"{name} failed:\n{out.stdout}\n{out.stderr}"
    seen: dict[str, list[Any]] = {}
    for line in out.stdout.splitlines():
        for k, v in json.loads(line).items():
            seen.setdefault(k, []).append(v)
    return seen


def check_script_output(seen: dict[str, list[Any]], backend: str, h: hoist.Hoist) -> None:
    job = seen["job"][0]
    assert job["backend_type"] == backend and job["status"] in ("Pending", "Running")
    assert "job_id" in job and "id" not in job  # to_dict renames id to job_id
    assert seen["status"][0]["status"] == "Complete"
    assert seen["status"][0]["job_id"] == job["job_id"]
    assert seen["logs"][0].splitlines()[-1] == "training done"
    assert seen["analysis_ok"] == [None]
    assert seen["bad_status"] == ["Error"]
    assert "CUDA out of memory" in seen["bad_logs"][0]
    assert seen["err_class"] == ["ERR_PROGRAM"]
    assert "batch size" in seen["suggestion"][0]
    assert any("CUDA out of memory" in e[1] for e in seen["event"]), seen["event"]
    assert seen["cancel"] == [True]
    assert seen["canceled_status"] == ["Canceled"]
    ids = seen["ids"][0]
    assert seen["listed"][0] == sorted(ids)
    assert seen["listed_error"] == [[ids[1]]]
    assert seen["unknown"] == [["Unknown", "Job not found"]]
    # The same jobs, seen through hoist's own API and store.
    assert {j.id: j.status for j in h.ls()} == dict(
        zip(ids, ["Complete", "Error", "Canceled"], strict=True)
    )


def test_tao_script_on_docker(h: hoist.Hoist, docker_up: None) -> None:
    seen = run_script("tao_docker.py", DOCKER_IMAGE)
    check_script_output(seen, "docker", h)
    assert all(j.platform == "docker" and j.image == DOCKER_IMAGE for j in h.ls())


def test_tao_script_on_slurm(h: hoist.Hoist, slurm: None) -> None:
    seen = run_script("tao_slurm.py")
    check_script_output(seen, "slurm", h)
    assert all(j.platform == "slurm" for j in h.ls())


def test_tao_models_and_conventions(home: Path, tmp_path: Path) -> None:
    sdk = VirtualEnvSDK()
    job = sdk.create_job(None, ["sh", "-c", "echo hi"], gpu_count=0)
    assert isinstance(job, Job) and job.backend_type == "virtualenv"
    assert job.to_dict()["job_id"] == job.id
    status = sdk.get_job_status(job.id)
    assert isinstance(status, JobStatus) and status.job_id == job.id
    sdk.hoist.wait(job.id, timeout=120)
    assert sdk.get_job_logs(job.id) == "hi\n"
    assert sdk.get_job_results_dir(job.id) == sdk.hoist.results(job.id)
    row = sdk.get_job(job.id)
    assert row is not None and row["job_id"] == job.id and row["status"] == "Complete"
    assert row["backend_type"] == "virtualenv" and row["platform"] == "local"
    assert sdk.get_job("00000000-0000-4000-8000-000000000000") is None
    assert sdk.get_job_logs("no-such-job") == ""
    assert sdk.cancel_job("no-such-job") is False
    assert sdk.cancel_job(job.id) is True  # TAO: an ended job reads as canceled-or-done
    assert sdk.get_failure_analysis(job.id) is None
    assert sdk.check_path(str(tmp_path)) is True
    assert sdk.check_path(str(tmp_path / "missing")) is False
    (tmp_path / "f.txt").write_text("x")
    assert "f.txt" in sdk.list_path(str(tmp_path))
    # Another platform's SDK does not see this job, as TAO's do not.
    docker = DockerSDK()
    assert docker.get_job_status(job.id).status == "Unknown"
    assert docker.list_jobs() == []
    assert sdk.delete_job_artifacts(job.id) is True
    assert sdk.get_job_status(job.id).status == "Unknown"
    # TypeErrors name TAO's arguments.
    with pytest.raises(TypeError, match="'gpu_count'"):
        sdk.create_job(None, "true", gpu_count="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'env_vars'"):
        sdk.create_job(None, "true", env_vars=["A=1"])  # type: ignore[arg-type]
    assert sdk.list_jobs() == []


def test_missing_slurm_variables_raise_credential_error(home: Path) -> None:
    sdk = SlurmSDK()
    with pytest.raises(CredentialError) as e:
        sdk.create_job(image=None, command="true", gpu_count=0)
    assert "SLURM_HOSTNAME" in str(e.value)
    assert isinstance(e.value, hoist.CredentialError)
    assert sdk.list_jobs() == []


def test_inputs_and_outputs_are_honoured_on_docker(
    h: hoist.Hoist, docker_up: None, s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # TAO's create_job ignores inputs/outputs; hoist fetches and uploads them.
    s3_put(s3, "ds/train.json", b'{"rows": 3}\n')
    monkeypatch.setenv("S3_BUCKET_NAME", s3)
    sdk = DockerSDK()
    job = sdk.create_job(
        image=DOCKER_IMAGE,
        command="cat /data/train.json; mkdir -p /work/out; echo trained > /work/out/w.txt",
        gpu_count=0,
        inputs={"/data/train.json": f"s3://{s3}/ds/train.json"},
        outputs=["/work/out"],
        network="host",  # hoist's docker setting: the S3 server is on this host's loopback
    )
    done = sdk.hoist.wait(job.id, timeout=300)
    assert done.status == "Complete", sdk.get_job_logs(job.id)
    assert '{"rows": 3}' in sdk.get_job_logs(job.id)
    results = sdk.get_job_results_dir(job.id)
    assert results == f"s3://{s3}/results/{job.id}/"
    uploaded = [p for p in (S3_ROOT / s3 / "results" / job.id).rglob("w.txt")]
    assert [p.read_text() for p in uploaded] == ["trained\n"]


def test_build_entrypoint_config_mode_on_docker(
    h: hoist.Hoist, docker_up: None, s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_put(s3, "coco/train.json", b"annotations\n")
    monkeypatch.setenv("S3_BUCKET_NAME", s3)
    specs = {
        "dataset": {"train": f"s3://{s3}/coco/train.json"},
        "train": {"epochs": 2, "results_dir": ""},
    }
    ep = build_entrypoint(
        command="cat {config_path}; cat $(sed -n 's/^train = \"\\(.*\\)\"/\\1/p' {config_path})",
        specs=specs,
        inputs=["dataset.train"],
        outputs=["train.results_dir"],
        config_format="toml",
    )
    assert set(ep) == {"command", "args_template"}
    sdk = DockerSDK()
    job = sdk.create_job(image=DOCKER_IMAGE, command=ep["command"], gpu_count=0, network="host")
    done = sdk.hoist.wait(job.id, timeout=300)
    logs = sdk.get_job_logs(job.id)
    assert done.status == "Complete", logs
    assert "epochs = 2" in logs and "annotations" in logs
    # The spec's URI became the path it was fetched to.
    written = [line for line in logs.splitlines() if line.startswith("train = ")]
    assert len(written) == 1 and "s3://" not in written[0] and "/train.json" in written[0]
    with pytest.raises(ValueError):
        build_entrypoint(command="x", specs={}, args={})


def test_hooks_fire_when_the_job_ends(home: Path, tmp_path: Path) -> None:
    sdk = VirtualEnvSDK(poll_interval=1, epoch_milestone_interval=2)
    fired: dict[str, Any] = {}
    done = threading.Event()
    gate = tmp_path / "gate"

    def on_epoch(job: Job, epoch: int, total: int) -> None:
        fired["epoch"] = (epoch, total)

    def on_complete(job: Job) -> None:
        fired["complete"] = job.status
        done.set()

    script = f"echo 'Epoch 2/4'; {marker_job(gate)[2]}"
    job = sdk.create_job(
        None,
        script,
        gpu_count=0,
        hooks={"on_complete": on_complete, "on_epoch_milestone": on_epoch},
    )
    wait_for("the epoch milestone hook", lambda: "epoch" in fired)
    assert fired["epoch"] == (2, 4)
    gate.touch()
    assert done.wait(timeout=120)
    assert fired["complete"] == "Complete" and job.status == "Complete"


def test_python_jobs_with_a_spec(home: Path, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import json, os, sys\n"
        "spec = json.load(open(sys.argv[1]))\n"
        "print(spec['train']['epochs'], sys.argv[2] == os.environ['TAO_JOB_ID'])\n"
        "print(os.environ['CUDA_VISIBLE_DEVICES'] == '', sys.prefix == os.environ['VIRTUAL_ENV'])\n"
    )
    sdk = VirtualEnvSDK(venv_path=sys.prefix)
    job = sdk.create_python_job(
        script,
        specs={"train": {"epochs": 3}},
        script_args=["{config_path}", "{job_id}"],
        gpu_count=0,
        network_arch="dino",
    )
    assert job.network_arch == "dino" and job.action == "train"
    assert sdk.hoist.wait(job.id, timeout=120).status == "Complete"
    assert sdk.get_job_logs(job.id).splitlines()[-2:] == ["3 True", "True True"]
    assert os.path.isdir(sdk.get_job_results_dir(job.id))


@pytest.fixture
def dry_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """``Hoist.run`` replaced by ``Hoist.dry_run``: what each ``create_job`` would submit, as
    the platform's own form, and the keywords it was given; nothing is submitted."""
    seen: list[dict[str, Any]] = []

    def dry(self: hoist.Hoist, command: Any, **kwargs: Any) -> hoist.Job:
        plan = self.dry_run(command, **kwargs)
        seen.append({"kwargs": kwargs, "text": plan["text"], "json": plan["json"]})
        return hoist.Job({"job_id": "dry-run", "status": "Pending", "platform": kwargs["platform"]})

    monkeypatch.setattr(hoist.Hoist, "run", dry)
    return seen


def test_tao_platform_keywords_become_hoist_settings(
    home: Path, dry_runs: list[dict[str, Any]]
) -> None:
    from hoist.tao_sdk.platforms.brev import BrevSDK
    from hoist.tao_sdk.platforms.kubernetes import KubernetesSDK

    DockerSDK().create_job(
        image=DOCKER_IMAGE,
        command="true",
        gpu_count=0,
        mounts=[{"host_path": "/tmp", "container_path": "/data", "read_only": True}, "/srv:/srv"],
        shm_size="1g",
        container_user=1000,
    )
    create = dry_runs[-1]["json"]["create"]
    assert create["HostConfig"]["ShmSize"] == 1 << 30 and create["User"] == "1000"
    mounts = {(m["Source"], m["Target"], m["ReadOnly"]) for m in create["HostConfig"]["Mounts"]}
    assert {("/tmp", "/data", True), ("/srv", "/srv", False)} <= mounts

    KubernetesSDK().create_job(
        image=DOCKER_IMAGE,
        command="true",
        gpu_count=2,
        num_nodes=2,
        namespace="ml",
        node_selector={"gpu-type": "h100"},
        tolerations=[{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
        image_pull_secret="ngc-pull-secret",
    )
    text = dry_runs[-1]["text"]
    for want in (
        "namespace: ml",
        "gpu-type: h100",
        "dedicated",
        "NoSchedule",
        "ngc-pull-secret",
        "completions: 2",
        "nvidia.com/gpu",
    ):
        assert want in text, f"{want!r} missing from:\n{text}"

    BrevSDK().create_job(image=DOCKER_IMAGE, command="true", gpu_count=2, instance_id="box")
    kwargs = dry_runs[-1]["kwargs"]
    assert (kwargs["platform"], kwargs["gpus"], kwargs["instance"]) == ("brev", 2, "box")
    with pytest.raises(hoist.InputError, match="cloud_cred_id"):
        BrevSDK().create_job(image=DOCKER_IMAGE, command="true", cloud_cred_id="c")


def test_slurm_keywords_become_hoist_settings(
    home: Path, slurm: None, dry_runs: list[dict[str, Any]]
) -> None:
    SlurmSDK().create_job(
        image=None,
        command="hostname",
        gpu_count=0,
        num_nodes=2,
        partition="debug",
        account="research",
    )
    text = dry_runs[-1]["text"]
    for want in ("--nodes=2", "--partition=debug", "--account=research"):
        assert want in text, f"{want!r} missing from:\n{text}"
