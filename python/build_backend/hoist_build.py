"""PEP 517 backend of the hoist Python package: maturin's, plus the hoist CLI binary.

The wheel carries the static ``hoist`` binary at ``hoist/_bin/hoist``: the native module opens
the library with it as the supervisor of local jobs and as the runner jobs get (inside Python,
this process's executable is the interpreter). ``build_wheel`` and ``build_editable`` build it
with cargo at the repository root (the root's static build settings), copy it into the package,
then hand over to maturin for the extension module.

``HOIST_BUILD_PROFILE=dev`` builds both in the dev profile (fast; the CLI binary the test suite
already built is reused); the default is ``release``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import maturin

HERE = Path(__file__).resolve().parent.parent  # python/
ROOT = HERE.parent  # the repository
TARGET = (
    "x86_64-unknown-linux-gnu"  # the root's .cargo/config.toml builds for it explicitly
)
BUNDLED = HERE / "hoist" / "_bin" / "hoist"

# Delegated as they are.
build_sdist = maturin.build_sdist
get_requires_for_build_wheel = maturin.get_requires_for_build_wheel
get_requires_for_build_editable = maturin.get_requires_for_build_editable
get_requires_for_build_sdist = maturin.get_requires_for_build_sdist


def _profile() -> str:
    profile = os.environ.get("HOIST_BUILD_PROFILE", "release").strip() or "release"
    if profile not in ("release", "dev"):
        raise RuntimeError(
            f"HOIST_BUILD_PROFILE={profile!r} is not a profile hoist builds: use release or dev"
        )
    return profile


def _bundle_cli() -> None:
    """Build the static hoist CLI at the repository root and copy it into the package."""
    if not (ROOT / "crates" / "hoist-cli" / "Cargo.toml").is_file():
        raise RuntimeError(
            f"{ROOT} is not a hoist checkout (crates/hoist-cli is missing): build the package "
            "from the repository, e.g. pip install ./python"
        )
    profile = _profile()
    cmd = ["cargo", "build", "-p", "hoist-cli", "--locked"]
    if profile == "release":
        cmd.append("--release")
    print(f"hoist_build: running {shlex.join(cmd)} in {ROOT}", flush=True)
    # Run from the root so only the root's cargo config applies: the CLI stays static. A
    # CARGO_ENCODED_RUSTFLAGS inherited from an outer cargo would replace that config.
    env = {k: v for k, v in os.environ.items() if k != "CARGO_ENCODED_RUSTFLAGS"}
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    built = (
        ROOT
        / "target"
        / TARGET
        / ("release" if profile == "release" else "debug")
        / "hoist"
    )
    if not built.is_file():
        raise RuntimeError(f"cargo built no {built}")
    BUNDLED.parent.mkdir(parents=True, exist_ok=True)
    tmp = BUNDLED.with_name(".hoist.tmp")
    shutil.copyfile(built, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, BUNDLED)


def _dynamic_extension() -> None:
    """Build the extension without +crt-static, whatever the repository's config says.

    The root .cargo/config.toml links everything statically, and a cdylib cannot be: rustc
    refuses the crate type. A -crt-static in python/.cargo/config.toml cannot undo it (cargo
    joins the arrays, and rustc links statically when +crt-static appears at all), but
    RUSTFLAGS replaces every config's rustflags. Set after the CLI is built, for maturin only.
    """
    flags = os.environ.get("RUSTFLAGS", "").replace("+crt-static", "-crt-static")
    if "-crt-static" not in flags:
        flags = f"{flags} -C target-feature=-crt-static".strip()
    os.environ["RUSTFLAGS"] = flags
    # It would win over RUSTFLAGS (an outer cargo sets it for build scripts).
    os.environ.pop("CARGO_ENCODED_RUSTFLAGS", None)


def _settings(config_settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """maturin's build arguments, with the dev profile added when asked for."""
    settings = dict(config_settings or {})
    if _profile() != "dev":
        return settings
    key = "maturin.build-args" if "maturin.build-args" in settings else "build-args"
    given = settings.get(key)
    if given is None:
        args = shlex.split(os.environ.get("MATURIN_PEP517_ARGS", ""))
    elif isinstance(given, str):
        args = shlex.split(given)
    else:
        args = list(given)
    if "--profile" not in args:
        args += ["--profile", "dev"]
    settings[key] = args
    return settings


def build_wheel(
    wheel_directory: str,
    config_settings: Mapping[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    _bundle_cli()
    _dynamic_extension()
    return maturin.build_wheel(
        wheel_directory, _settings(config_settings), metadata_directory
    )


def build_editable(
    wheel_directory: str,
    config_settings: Mapping[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    _bundle_cli()
    _dynamic_extension()
    return maturin.build_editable(
        wheel_directory, _settings(config_settings), metadata_directory
    )


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: Mapping[str, Any] | None = None
) -> str:
    return maturin.prepare_metadata_for_build_wheel(
        metadata_directory, _settings(config_settings)
    )


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: Mapping[str, Any] | None = None
) -> str:
    return maturin.prepare_metadata_for_build_wheel(
        metadata_directory, _settings(config_settings)
    )
