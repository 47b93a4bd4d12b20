"""Errors Python raises where the CLI refuses or fails: the same class of fix and the same
words, a missing kubeconfig as a missing credential, and a forked child told it cannot use
hoist rather than left hanging."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import CLI

import hoist
from hoist.tao_sdk.platforms.kubernetes import KubernetesSDK


def cli_stderr(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Exit code and the message of ``hoist ARGS``, without its ``error: ``."""
    import os

    out = subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    assert out.stderr.startswith("error: "), out.stderr
    return out.returncode, out.stderr[len("error: ") :].rstrip("\n")


@pytest.fixture
def no_kubeconfig(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No kubeconfig anywhere and not inside a cluster."""
    monkeypatch.setenv("KUBECONFIG", str(home / "no-such-kubeconfig"))
    monkeypatch.setenv("HOME", str(home / "empty-home"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)


def test_kubernetes_without_a_kubeconfig_raises_credential_error(
    h: hoist.Hoist, no_kubeconfig: None
) -> None:
    with pytest.raises(hoist.CredentialError) as e:
        h.run(["true"], platform="kubernetes", image="busybox")
    text = str(e.value)
    assert text.startswith("submit failed: "), text
    assert "no usable kubeconfig" in text and "TAO_K8S_CONTEXT" in text, text
    # As TAO's KubernetesSDK does, and one except catches it from either API.
    with pytest.raises(hoist.CredentialError, match="no usable kubeconfig"):
        KubernetesSDK().create_job(image="busybox", command="true", gpu_count=0)


def test_an_ambiguous_id_prefix_is_input_error(h: hoist.Hoist) -> None:
    # Ids are random hex: among 17 jobs two share a first digit (usually far fewer are needed).
    first: dict[str, str] = {}
    prefix = None
    for _ in range(17):
        job_id = h.run(["true"]).id
        if job_id[0] in first:
            prefix = job_id[0]
            break
        first[job_id[0]] = job_id
    assert prefix is not None
    with pytest.raises(hoist.InputError) as e:
        h.status(prefix)
    code, want = cli_stderr("status", prefix)
    assert code == 2
    assert str(e.value) == want
    assert not isinstance(e.value, hoist.StoreError)


def test_submit_errors_say_submit_failed_as_the_cli_does(h: hoist.Hoist) -> None:
    with pytest.raises(hoist.InputError) as e:
        h.run(["true"], nodes=0)
    code, want = cli_stderr("run", "-d", "--nodes", "0", "--", "true")
    assert code == 2
    assert want.startswith("submit failed: "), want
    assert str(e.value) == want
    assert h.ls() == []


@pytest.mark.parametrize("name", ["1BAD", "BAD-NAME", "", "A=B"])
def test_a_bad_env_dict_name_is_refused_in_the_cli_words(h: hoist.Hoist, name: str) -> None:
    with pytest.raises(hoist.InputError) as e:
        h.run(["true"], env={name: "s3cr3t-value"})
    text = str(e.value)
    assert "s3cr3t-value" not in text, "the value may be a secret"
    if "=" not in name:
        # The CLI's `--env NAME`: the same parser, the same words.
        code, want = cli_stderr("run", "-d", "--env", name, "--", "true")
        assert code == 2
        assert text == want
    else:
        assert text.startswith(f"malformed --env {name!r}".replace("'", '"')), text
        assert "hint: write --env NAME=VALUE" in text, text
    assert h.ls() == []


def test_a_child_forked_after_first_use_raises_instead_of_hanging(home: Path) -> None:
    code = textwrap.dedent(
        """
        import os, sys
        import hoist
        h = hoist.Hoist()
        h.ls()
        pid = os.fork()
        if pid == 0:
            said = []
            for call in (h.ls, lambda: hoist.Hoist(), lambda: h.run(["true"])):
                try:
                    call()
                    said.append("worked")
                except RuntimeError as e:
                    said.append("RuntimeError: " + str(e))
            print("\\n".join(said), flush=True)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("parent still works:", h.ls() == [], flush=True)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    # A hang is what this guards against: the deadline only ends a broken run.
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 4, out.stdout
    for line in lines[:3]:
        assert line.startswith("RuntimeError: hoist cannot be used in this process"), line
        assert "spawn" in line
    assert lines[3] == "parent still works: True"


def test_fork_before_first_use_is_fine(home: Path) -> None:
    code = textwrap.dedent(
        """
        import os, sys
        import hoist
        pid = os.fork()
        if pid == 0:
            os._exit(0 if hoist.Hoist().ls() == [] else 1)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
