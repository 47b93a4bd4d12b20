"""Code a user writes against the package: mypy --strict must accept it (test_typing.py)."""

from __future__ import annotations

import asyncio

import hoist
from hoist.tao_sdk import CredentialError, JobStatus, build_entrypoint
from hoist.tao_sdk.models import Job as TaoJob
from hoist.tao_sdk.platforms.brev import BrevSDK
from hoist.tao_sdk.platforms.docker import DockerSDK
from hoist.tao_sdk.platforms.kubernetes import KubernetesSDK
from hoist.tao_sdk.platforms.lepton import LeptonSDK
from hoist.tao_sdk.platforms.slurm import SlurmSDK
from hoist.tao_sdk.platforms.virtualenv import VirtualEnvSDK


def native(h: hoist.Hoist) -> tuple[str, int | None, list[str]]:
    job: hoist.Job = h.run(
        ["python", "train.py"], platform="docker", image="img", gpus=2, pull="always"
    )
    done = h.wait(job.id, timeout=10.0)
    lines = [line.upper() for line in h.follow(done.id, tail=5)]
    why = h.why(done.id)
    err = why["err_class"] if why else ""
    launched = h.launch("task.yaml", env={"EPOCHS": "3"})
    if isinstance(launched, hoist.Run):
        state: str = launched.wait()["state"]
        jobs: list[hoist.Job] = launched.jobs()
        lines += [state, *(j.status for j in jobs)]
    return err + h.logs(job.id, tail=10), done.exit_code, lines


async def waits(h: hoist.Hoist, job_id: str) -> bool:
    job = await h.wait_async(job_id, timeout=5)
    again = await h.status_async(job.id)
    return again.ok and await h.cancel_async(job_id)


def tao() -> list[JobStatus]:
    sdk = DockerSDK()
    ep = build_entrypoint(command="train -e {config_path}", specs={"a": {"b": 1}})
    job: TaoJob = sdk.create_job(
        image="img", command=ep["command"], gpu_count=1, env_vars={"A": "1"}
    )
    out = [sdk.get_job_status(job.id)]
    logs: str = sdk.get_job_logs(job.id, tail=200)
    analysis = sdk.get_failure_analysis(job.id)
    if analysis:
        for event in analysis.get("job_failure_by_node_event", []):
            print(event["node_event_name"], event["message"], logs)
    ok: bool = sdk.cancel_job(job.id)
    print(ok, sdk.list_jobs(status="Error"), job.to_dict()["job_id"])
    slurm = SlurmSDK(poll_interval=5)
    slurm.create_job(
        None, "hostname", gpu_count=0, num_nodes=2, partition="debug", mounts="/lustre:/lustre"
    )
    KubernetesSDK().create_job(
        "img", "x", namespace="ml", node_selector={"gpu": "h100"}, tolerations=["a=b:NoSchedule"]
    )
    brev = BrevSDK()
    brev.create_job("img", "x", instance_id="box", gpu_type="A100")
    print(brev.list_instances(), brev.delete_instance("box"))
    LeptonSDK().create_job("img", "x", node_group="ng", num_nodes=2)
    VirtualEnvSDK().create_python_job("train.py", specs={"x": 1}, script_args=["{config_path}"])
    try:
        out.append(slurm.get_job_status("x"))
    except CredentialError:
        pass
    return out


if __name__ == "__main__":
    asyncio.run(waits(hoist.Hoist(), "x"))
