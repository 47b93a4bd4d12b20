"""Code with type errors: mypy --strict must refuse each marked line (test_typing.py)."""

import hoist
from hoist.tao_sdk.platforms.docker import DockerSDK

h = hoist.Hoist()
job = h.run(["x"])
n: int = job.status  # error: a str
h.wait(job.id, timeout="soon")  # error: not a number
DockerSDK().create_job(image="img", command="x", gpu_count="1")  # error: not an int
s: str = h.why(job.id)  # error: dict | None
