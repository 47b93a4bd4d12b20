"""A TAO SDK script, as the TAO skills write it, with one change: the import line
(``from tao_sdk.platforms.slurm import SlurmSDK`` in TAO).

Prints one JSON object per line for the test that runs it (python/tests/test_tao_sdk.py).
"""

import json
import time

from hoist.tao_sdk.platforms.slurm import SlurmSDK

IMAGE = None  # bare srun on the nodes: the testbed cluster has no container runtime


def report(what, value):
    print(json.dumps({what: value}), flush=True)


def poll(sdk, job_id, until=("Complete", "Error", "Canceled")):
    while True:
        status = sdk.get_job_status(job_id)
        if status.status in until:
            return status
        time.sleep(0.2)


sdk = SlurmSDK()  # reads SLURM_HOSTNAME, SLURM_USER, SLURM_PARTITION from env

# A job that trains and completes.
job = sdk.create_job(
    image=IMAGE,
    command="echo 'Epoch 1/2'; echo 'Epoch 2/2'; echo training done",
    gpu_count=0,
    partition="debug",
)
report("job", job.to_dict())
status = poll(sdk, job.id)
report("status", {"job_id": status.job_id, "status": status.status, "message": status.message})
report("logs", sdk.get_job_logs(job.id, tail=200))
report("analysis_ok", sdk.get_failure_analysis(job.id))

# A job that fails: what the seed's monitoring pattern prints.
bad = sdk.create_job(
    image=IMAGE,
    command="echo 'RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB' >&2; exit 1",
    gpu_count=0,
    partition="debug",
)
status = poll(sdk, bad.id)
report("bad_status", status.status)
if status.status == "Error":
    report("bad_logs", sdk.get_job_logs(bad.id, tail=100))
    analysis = sdk.get_failure_analysis(bad.id)
    if analysis:
        report("err_class", analysis["err_class"])  # ERR_PROGRAM, ERR_INFRA, etc.
        report("suggestion", analysis["suggestion"])  # human-readable fix
        for event in analysis.get("job_failure_by_node_event", []):
            report("event", [event["node_event_name"], event["message"]])

# A long job, canceled once it runs.
long = sdk.create_job(image=IMAGE, command="sleep 300", gpu_count=0, partition="debug")
poll(sdk, long.id, until=("Running",))
report("cancel", sdk.cancel_job(long.id))
report("canceled_status", poll(sdk, long.id).status)
report("logs_of_canceled", sdk.get_job_logs(long.id))

report("listed", sorted(j["job_id"] for j in sdk.list_jobs()))
report("listed_error", [j["job_id"] for j in sdk.list_jobs(status="Error")])
unknown = sdk.get_job_status("00000000-0000-4000-8000-000000000000")
report("unknown", [unknown.status, unknown.message])
report("ids", [job.id, bad.id, long.id])
