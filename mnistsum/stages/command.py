"""Every stage script's command line, derived from its stage module's `Paths` record: one option per field
(`base_history` -> `--base-history`), so a stage's files are named once, in its record, and their paths written
once, in dvc.yaml. A `Path` field is required, `Path | None` optional, `tuple[Path, ...]` takes one or more
paths, and `dict[str, Path]` one or more `KEY=PATH`. The same parser reads a stage's command back for
`mnistsum worker`."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
import time
import typing
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType, UnionType
from typing import Any

import psutil

from mnistsum.errors import InputError, exits_cleanly
from mnistsum.params import load_params


def _kind(annotation: Any) -> str:
    """What a `Paths` field holds: path, optional, paths (a tuple) or named (a dict of paths)."""
    if annotation is Path:
        return "path"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (UnionType, typing.Union) and Path in args and type(None) in args:
        return "optional"
    if origin is tuple and args[:1] == (Path,):
        return "paths"
    if origin is dict and args == (str, Path):
        return "named"
    raise TypeError(f"a Paths field of type {annotation!r} has no command-line form")


def _named(text: str) -> tuple[str, Path]:
    key, sep, path = text.partition("=")
    if not sep or not key or not path:
        raise InputError(f"{text!r}: expected KEY=PATH")
    return key, Path(path)


def parser(paths_type: type, description: str | None = None, stages: bool | Sequence[str] = False):
    """The command line of a stage whose files are `paths_type`. A script that serves several stages takes the
    stage's name first: `stages` lists the names, or is True where the stage module checks the name itself."""
    out = argparse.ArgumentParser(description=description)
    if stages:
        out.add_argument("stage", **({} if stages is True else {"choices": stages}))
    out.add_argument("--params", type=Path, default=Path("params.yaml"))
    for name, annotation in typing.get_type_hints(paths_type).items():
        flag, kind = "--" + name.replace("_", "-"), _kind(annotation)
        if kind == "path":
            out.add_argument(flag, type=Path, required=True)
        elif kind == "optional":
            out.add_argument(flag, type=Path)
        elif kind == "paths":
            out.add_argument(flag, type=Path, nargs="+", required=True)
        else:
            out.add_argument(flag, type=_named, nargs="+", required=True, metavar="KEY=PATH")
    return out


def paths(paths_type: type, args: argparse.Namespace, root: Path = Path(".")) -> Any:
    """The `Paths` record from parsed arguments, every path under `root`."""
    values = {}
    for name, annotation in typing.get_type_hints(paths_type).items():
        value, kind = getattr(args, name), _kind(annotation)
        if kind == "paths":
            value = tuple(root / p for p in value)
        elif kind == "named":
            value = {k: root / p for k, p in value}
        elif value is not None:
            value = root / value
        values[name] = value
    return paths_type(**values)


def dvc_process() -> psutil.Process | None:
    """The `dvc` process that started this stage (its nearest ancestor running dvc), when DVC started it."""
    if "DVC_STAGE" not in os.environ:
        return None
    for parent in psutil.Process().parents():
        try:
            if any(part == "dvc" or part.endswith("/dvc") for part in parent.cmdline()[:3]):
                return parent
        except psutil.Error:
            continue
    return None


def follow_dvc(poll_seconds: float = 2.0) -> None:
    """Stop this stage when the `dvc` that started it dies (kill -9 of dvc alone): otherwise the stage runs on
    as an orphan beside the re-run's copy of it, both logging to the same parent runs. Its RUNNING MLflow runs are
    closed as KILLED by the next stage to start (mnistsum.tracking.orphans)."""
    dvc = dvc_process()
    if dvc is None:
        return

    def alive() -> bool:
        try:
            return dvc.is_running() and dvc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def watch() -> None:
        while alive():
            time.sleep(poll_seconds)
        print(f"stage {os.environ['DVC_STAGE']}: dvc (pid {dvc.pid}) is gone; stopping", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="follow-dvc", daemon=True).start()


def main(module: ModuleType, stages: bool | Sequence[str] = False) -> None:
    """A stage script's whole body: parse its command line from `module.Paths`, load the params, call
    `module.run(params, paths)` (with the stage's name when the script serves several)."""
    assert dataclasses.is_dataclass(module.Paths)

    @exits_cleanly
    def run() -> None:
        args = parser(module.Paths, module.__doc__, stages).parse_args()
        follow_dvc()
        extra = (args.stage,) if stages else ()
        module.run(load_params(args.params), paths(module.Paths, args), *extra)

    run()
