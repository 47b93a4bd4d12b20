"""``build_entrypoint``: TAO's data-staging entrypoint, mapped onto hoist's runner.

TAO inlines a Python runner into the container command. hoist already has one (the static
``hoist`` binary runs as ``hoist __run`` inside the job: no Python or pip in the image), so
``build_entrypoint`` returns the command as written, carrying the staging (spec, args, inputs,
outputs, upload excludes) for ``create_job`` to hand to hoist. Pass ``entrypoint["command"]``
to ``create_job`` as it is: a string built from it loses the staging.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["StagedCommand", "build_entrypoint"]

_FORMATS = ("json", "yaml", "toml")


class StagedCommand(str):
    """A command string that also carries what hoist stages around it (run keywords)."""

    staging: dict[str, Any]

    def __new__(cls, command: str, staging: Mapping[str, Any]) -> StagedCommand:
        obj = super().__new__(cls, command)
        obj.staging = dict(staging)
        return obj


def _is_uri(v: object) -> bool:
    return isinstance(v, str) and "://" in v


def _declared_inputs(inputs: object, mode: str) -> dict[str, str] | None:
    """TAO's input declarations as hoist bindings.

    Config and args mode: a list of keys, or keys mapped to a URI or to options. hoist fetches
    every remote value of the spec or args by itself, so only a key given its URI here becomes
    a binding. Passthrough: ``{container_path: URI}`` as it is.
    """
    if inputs is None:
        return None
    if mode == "passthrough":
        if not isinstance(inputs, Mapping):
            raise TypeError(
                "build_entrypoint() argument 'inputs' must be a dict {container_path: uri} "
                f"without specs or args, not {type(inputs).__name__}"
            )
        return {str(k): str(v) for k, v in inputs.items() if v}
    if isinstance(inputs, (list, tuple)):
        return None
    if isinstance(inputs, Mapping):
        out = {str(k): str(v) for k, v in inputs.items() if _is_uri(v)}
        return out or None
    raise TypeError(
        "build_entrypoint() argument 'inputs' must be a list of keys or a dict, "
        f"not {type(inputs).__name__}"
    )


def _declared_outputs(outputs: object) -> dict[str, str | None] | list[str] | None:
    """TAO's output declarations (keys, or keys mapped to a destination; passthrough: paths)
    as hoist bindings."""
    if outputs is None:
        return None
    if isinstance(outputs, (list, tuple)):
        return [str(k) for k in outputs]
    if isinstance(outputs, Mapping):
        return {str(k): (str(v) if isinstance(v, str) and v else None) for k, v in outputs.items()}
    raise TypeError(
        "build_entrypoint() argument 'outputs' must be a list or a dict, "
        f"not {type(outputs).__name__}"
    )


def build_entrypoint(
    *,
    command: str,
    inputs: dict[str, Any] | list[str] | None = None,
    outputs: dict[str, Any] | list[str] | None = None,
    specs: dict[str, Any] | None = None,
    args: dict[str, Any] | None = None,
    config_format: str = "toml",
    upload_excludes: Sequence[str] | None = None,
    mount_path: str | None = None,
    flags: Sequence[str] | None = None,
) -> dict[str, Any]:
    """TAO's ``build_entrypoint``: ``{"command": ..., "args_template": ""}`` for ``create_job``.

    The mode is inferred as TAO infers it: ``specs`` → config (the spec is written and the
    command names it as ``{config_path}``; remote values are fetched and replaced by local
    paths), ``args`` → args (values become ``--key value`` flags; ``flags`` become ``--flag``),
    neither → passthrough (``inputs`` = ``{container_path: uri}``, ``outputs`` = paths to
    upload). ``mount_path`` (TAO's Lustre input cache) is accepted and not used.
    """
    if not isinstance(command, str):
        raise TypeError(
            f"build_entrypoint() argument 'command' must be str, not {type(command).__name__}"
        )
    if specs is not None and args is not None:
        raise ValueError("Pass either `specs` or `args`, not both.")
    if not isinstance(config_format, str):
        raise TypeError("config_format must be one of: json, yaml, toml")
    fmt = config_format.lower()
    staging: dict[str, Any] = {}
    if specs is not None:
        if not isinstance(specs, Mapping):
            raise TypeError(
                f"build_entrypoint() argument 'specs' must be a dict, not {type(specs).__name__}"
            )
        if fmt not in _FORMATS:
            raise ValueError("config_format must be one of: json, yaml, toml")
        mode = "config"
        staging.update(spec=dict(specs), spec_format=fmt)
    elif args is not None or flags:
        if args is not None and not isinstance(args, Mapping):
            raise TypeError(
                f"build_entrypoint() argument 'args' must be a dict, not {type(args).__name__}"
            )
        mode = "args"
        merged: dict[str, Any] = dict(args or {})
        for flag in flags or ():
            if not isinstance(flag, str):
                raise TypeError("build_entrypoint() argument 'flags' must be a list of str")
            merged[flag.lstrip("-")] = True
        staging["args"] = merged
    else:
        mode = "passthrough"
    staging["mode"] = mode
    declared_in = _declared_inputs(inputs, mode)
    if declared_in:
        staging["inputs"] = declared_in
    declared_out = _declared_outputs(outputs)
    if declared_out:
        staging["outputs"] = declared_out
    if upload_excludes:
        if isinstance(upload_excludes, str) or not all(isinstance(p, str) for p in upload_excludes):
            raise TypeError("build_entrypoint() argument 'upload_excludes' must be a list of str")
        staging["upload_excludes"] = list(upload_excludes)
    _ = mount_path  # accepted for TAO's signature: hoist fetches inputs per job
    return {"command": StagedCommand(command, staging), "args_template": ""}
