"""Types of ``hoist._native``, the extension module (crates/hoist-python): plain dicts in and out.

The Python layer (``hoist.Hoist``, ``hoist.Job``, ``hoist.tao_sdk``) wraps it; use it directly
only for what that layer does not cover.
"""

import os
from collections.abc import Mapping, Sequence
from typing import Any, final

__version__: str

def forked() -> None:
    """Run in a forked child (``os.register_at_fork``): once the parent had used hoist, every
    later call in the child raises ``RuntimeError``."""

JsonValue = Any
"""A JSON-like value: None, bool, int, float, str, list, or dict with str keys."""

class HoistError(Exception):
    """Base class of every error hoist raises."""

class InputError(HoistError):
    """Bad input: what the CLI refuses with exit code 2. The message says how to fix it."""

class CredentialError(HoistError):
    """A credential or environment variable is missing, or the backend refused the one given."""

class PlatformError(HoistError):
    """The platform (daemon, cluster, cloud API) failed or could not be reached."""

class NotFoundError(HoistError):
    """No job has that id, id prefix or name."""

class StoreError(HoistError):
    """The job store ($HOIST_HOME/hoist.db) failed."""

@final
class LogLines:
    """A job's output, line by line (without newlines), until the job ends."""

    def __iter__(self) -> LogLines: ...
    def __next__(self) -> str: ...
    def close(self) -> None: ...

@final
class Hoist:
    def __init__(self, home: str | os.PathLike[str] | None = None) -> None: ...
    @property
    def home(self) -> str: ...
    def run(
        self,
        command: Sequence[str] | str,
        *,
        platform: str | None = None,
        image: str | None = None,
        gpus: int | str | None = None,
        nodes: int | None = None,
        cpus: float | None = None,
        memory: int | str | None = None,
        env: Mapping[str, str | None] | Sequence[str] | None = None,
        inputs: Mapping[str, str] | Sequence[str] | None = None,
        outputs: Mapping[str, str | None] | Sequence[str] | None = None,
        spec: str | Mapping[str, JsonValue] | None = None,
        spec_format: str | None = None,
        args: Mapping[str, JsonValue] | None = None,
        mode: str | None = None,
        name: str | None = None,
        profile: str | None = None,
        labels: Mapping[str, str] | None = None,
        shell: str | None = None,
        workdir: str | None = None,
        upload_excludes: Sequence[str] | None = None,
        parent: str | None = None,
        secret_env: Sequence[str] | None = None,
        platform_options: Mapping[str, JsonValue] | None = None,
    ) -> dict[str, Any]: ...
    def dry_run(
        self,
        command: Sequence[str] | str,
        **kwargs: Any,
    ) -> dict[str, Any]: ...
    def status(self, id: str) -> dict[str, Any]: ...
    def logs(self, id: str, tail: int | None = None) -> str: ...
    def follow(self, id: str, tail: int | None = None) -> LogLines: ...
    def cancel(self, id: str) -> bool: ...
    def wait(self, id: str, timeout: float | None = None) -> dict[str, Any]: ...
    def why(self, id: str) -> dict[str, Any] | None: ...
    def results(self, id: str) -> str | None: ...
    def download_results(self, id: str, dest: str | os.PathLike[str]) -> int: ...
    def ls(
        self,
        status: str | None = None,
        platform: str | None = None,
        workflow: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]: ...
    def remove(self, id: str, force: bool = False) -> dict[str, Any]: ...
    def check_path(self, platform: str, path: str) -> bool: ...
    def list_path(self, platform: str, path: str) -> list[str]: ...
    def instances(self, platform: str) -> list[dict[str, Any]]: ...
    def remove_instance(self, platform: str, name: str, force: bool = False) -> dict[str, Any]: ...
    def launch(
        self,
        path: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        platform: str | None = None,
    ) -> dict[str, Any]: ...
    def wait_run(
        self, run_dir: str | os.PathLike[str], timeout: float | None = None
    ) -> dict[str, Any]: ...
