"""The NVIDIA TAO Execution SDK's interface over hoist: a TAO script moves to hoist by changing
its import line, ``from tao_sdk.platforms.docker import DockerSDK`` becoming
``from hoist.tao_sdk.platforms.docker import DockerSDK``::

    from hoist.tao_sdk.platforms.docker import DockerSDK   # or .slurm SlurmSDK, .kubernetes …

    sdk = DockerSDK()
    job = sdk.create_job(image="...", command="...", gpu_count=1)
    status = sdk.get_job_status(job.id)            # Pending, Running, Complete, Error, Canceled
    logs = sdk.get_job_logs(job.id, tail=200)

Jobs live in hoist's store (``$HOIST_HOME``, else ``~/.hoist``), shared with the ``hoist`` CLI
and ``hoist.Hoist``; any later process re-attaches by id.
"""

from hoist.tao_sdk.models import Checkpoint, CredentialError, Job, JobStatus
from hoist.tao_sdk.platforms.protocol import PlatformSDK
from hoist.tao_sdk.platforms.virtualenv import VirtualEnvSDK
from hoist.tao_sdk.script_runner import build_entrypoint

__all__ = [
    "Checkpoint",
    "CredentialError",
    "Job",
    "JobStatus",
    "PlatformSDK",
    "VirtualEnvSDK",
    "build_entrypoint",
]
