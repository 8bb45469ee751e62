"""Atomic writers: every out is written to a temporary file beside it and renamed into place,
so an interrupted stage never leaves a half-written file that DVC or a later stage could trust."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mnistsum.errors import InputError
from mnistsum.machine import machine


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")


def write_metrics(
    path: str | Path,
    val_accuracy: float | None,
    test_accuracy: float | None,
    *,
    regime: str | dict[str, str],
    **extra: Any,
) -> None:
    """A stage's DVC metrics: only the few numbers a user compares between experiments, accuracies first
    (`dvc exp show` keeps this order), and the supervision regime they were trained in (required: no number
    without it; a mapping where several models are scored). Times, throughput and everything else go to
    results/ and MLflow. The machine that made them closes the file: comparisons say when two came from
    different kinds of CPU (mnistsum exps)."""
    data = {"val_accuracy": val_accuracy, "test_accuracy": test_accuracy, **extra, "regime": regime}
    data["machine"] = machine()
    write_text(path, json.dumps({k: v for k, v in data.items() if v is not None}, indent=2, default=_jsonable) + "\n")


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: not found (run the stage that writes it first: dvc repro)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    # numpy writes a fixed zip timestamp, so the same arrays give the same bytes (and DVC hash).
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
