"""Shared fixtures: every test gets its own HOIST_HOME, and jobs it leaves live are canceled.

The tests run against the installed package (``pip install ./python``), on the real engines of
scripts/testbed.sh: the Docker daemon (image hoist-test/busybox:latest), the SLURM cluster
(login host hoist-testbed-slurm, user hoistuser, partition debug) and the S3 server on
127.0.0.1:9000. A missing one fails its tests with the fix; nothing is skipped.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import hoist

DOCKER_IMAGE = "hoist-test/busybox:latest"
SLURM_LOGIN = "hoist-testbed-slurm"
S3_ENDPOINT = "http://127.0.0.1:9000"
S3_ACCESS = "hoist-s3-access"
S3_SECRET = "hoist-s3-secret-key"
#: s3s-fs keeps bucket b's object k as the file S3_ROOT/b/k.
S3_ROOT = Path("/var/lib/hoist-testbed/s3")

#: The CLI shipped in the package (the same build as the extension).
CLI = Path(hoist.__file__).parent / "_bin" / "hoist"

#: Variables that would change what the tests see.
_CLEARED = (
    "HOIST_PROFILE",
    "HOIST_PLATFORM",
    "TAO_RESULTS_ROOT",
    "HOIST_FAILPOINT",
    "SLURM_HOSTNAME",
    "SSH_HOST",
    "SLURM_USER",
    "SSH_USER",
    "SLURM_PARTITION",
    "SLURM_ACCOUNT",
    "SLURM_TIME_HOURS",
    "SLURM_BASE_RESULTS_DIR",
    "SLURM_CONF",
    "SLURM_CPUS_PER_TASK",
    "ACCESS_KEY",
    "SECRET_KEY",
    "S3_ENDPOINT_URL",
    "S3_BUCKET_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "HF_TOKEN",
    "NGC_KEY",
)

assert "site-packages" in hoist.__file__, (
    f"the tests run against the installed package, not {hoist.__file__}: "
    "pip install ./python into the venv that runs pytest, and run pytest from outside python/"
)


def wait_for(what: str, cond: Callable[[], object], deadline: float = 120.0) -> object:
    """Poll ``cond`` until it returns something true; fail naming ``what`` after ``deadline``
    seconds."""
    end = time.monotonic() + deadline
    delay = 0.02
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh HOIST_HOME, exported; jobs left in it are removed at the end (live ones canceled
    first), with what their platforms keep (containers, job folders on the cluster).

    Short (under /tmp, not pytest's deep tmp_path): ssh control sockets live in it, and a
    Unix socket path has at most 107 bytes."""
    h = Path(tempfile.mkdtemp(prefix="hoist-py-"))
    monkeypatch.setenv("HOIST_HOME", str(h))
    monkeypatch.setenv("NO_COLOR", "1")
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    yield h
    if (h / "hoist.db").exists():
        handle = hoist.Hoist(h)
        for job in handle.ls():
            try:
                handle.remove(job.id, force=True)
            except hoist.HoistError:
                pass
    shutil.rmtree(h, ignore_errors=True)


@pytest.fixture
def h(home: Path) -> hoist.Hoist:
    """A handle on the test's store."""
    return hoist.Hoist(home)


@pytest.fixture
def docker_up() -> None:
    out = subprocess.run(
        ["docker", "image", "inspect", DOCKER_IMAGE], capture_output=True, text=True
    )
    assert out.returncode == 0, (
        f"the Docker test image {DOCKER_IMAGE} is missing ({out.stderr.strip()}): "
        "run scripts/testbed.sh"
    )


@pytest.fixture
def slurm(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The TAO SLURM variables as a user exports them, for the testbed cluster."""
    up = subprocess.run(
        ["ssh", "-o", "BatchMode=yes", SLURM_LOGIN, "sinfo -h"], capture_output=True, text=True
    )
    assert up.returncode == 0, (
        f"the SLURM testbed is not up ({up.stderr.strip()}): run scripts/testbed.sh"
    )
    monkeypatch.setenv("SLURM_HOSTNAME", SLURM_LOGIN)
    monkeypatch.setenv("SLURM_USER", "hoistuser")
    monkeypatch.setenv("SLURM_PARTITION", "debug")
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")


@pytest.fixture
def s3(home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the testbed's S3 server, and its credentials exported (TAO names)."""
    try:
        socket.create_connection(("127.0.0.1", 9000), timeout=5).close()
    except OSError as e:
        raise AssertionError(
            f"the S3 test server does not answer on 127.0.0.1:9000 ({e}): run scripts/testbed.sh"
        ) from e
    bucket = f"t-{secrets.token_hex(6)}"
    (S3_ROOT / bucket).mkdir(parents=True)
    monkeypatch.setenv("ACCESS_KEY", S3_ACCESS)
    monkeypatch.setenv("SECRET_KEY", S3_SECRET)
    monkeypatch.setenv("S3_ENDPOINT_URL", S3_ENDPOINT)
    monkeypatch.setenv("CLOUD_REGION", "us-east-1")
    return bucket


def s3_put(bucket: str, key: str, data: bytes) -> None:
    p = S3_ROOT / bucket / key
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def python(code: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[str]:
    """A second Python process running ``code`` with this test's environment."""
    return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-c", code],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def marker_job(path: Path) -> list[str]:
    """A command that runs until ``path`` exists (at most ten minutes), then prints "released"."""
    return [
        "sh",
        "-c",
        f'i=0; while [ ! -e "{path}" ] && [ $i -lt 6000 ]; do sleep 0.1; i=$((i+1)); done; '
        "echo released",
    ]
