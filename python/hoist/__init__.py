"""hoist from Python: launch, track and explain GPU jobs on every platform hoist has.

The package is the hoist library itself (Rust, through PyO3): the same store, platforms and
failure analysis as the ``hoist`` CLI, with no subprocess in between.

    import hoist

    h = hoist.Hoist()                                   # the store in $HOIST_HOME or ~/.hoist
    job = h.run(["python", "train.py"], platform="docker", image="nvcr.io/...", gpus=1)
    job = h.wait(job.id)                                # Ctrl-C stops waiting, not the job
    print(job.status, job.exit_code, h.why(job.id))

``hoist.tao_sdk`` has the TAO Execution SDK's classes (``DockerSDK``, ``SlurmSDK`` …) over the
same library: a TAO script moves to hoist by changing its import line.
"""

import os as _os

from hoist._client import Hoist
from hoist._job import Job, Run
from hoist._native import (
    CredentialError,
    HoistError,
    InputError,
    NotFoundError,
    PlatformError,
    StoreError,
)
from hoist._native import __version__ as __version__
from hoist._native import forked as _forked

# A child forked after hoist was used in its parent inherits the runtime without its threads
# and the store connection mid-use: every hoist call there raises RuntimeError instead of
# hanging (README, Python: fork).
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_forked)

__all__ = [
    "CredentialError",
    "Hoist",
    "HoistError",
    "InputError",
    "Job",
    "NotFoundError",
    "PlatformError",
    "Run",
    "StoreError",
    "__version__",
]
