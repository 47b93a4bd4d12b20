"""The package's type hints (py.typed, stubs, inline annotations), checked by mypy --strict as
a user's code would be: against the installed package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent / "typecheck"


def mypy(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_user_code_type_checks(tmp_path: Path) -> None:
    out = mypy(HERE / "uses_hoist.py", tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_type_errors_are_caught(tmp_path: Path) -> None:
    out = mypy(HERE / "wrong.py", tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    flagged = {int(line.split(":")[1]) for line in out.stdout.splitlines() if ": error:" in line}
    lines = (HERE / "wrong.py").read_text().splitlines()
    marked = {n for n, text in enumerate(lines, start=1) if "# error:" in text}
    assert flagged == marked, out.stdout
