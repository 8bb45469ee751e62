"""The learning curve's points as files, shared by the stage that writes them (learning_curve) and the one that
reads them (compare). No TensorFlow here: compare's joblib workers import what compare imports."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnistsum.errors import InputError
from mnistsum.files import read_json, save_npz


def point_key(family: str, regime: str, n: int) -> str:
    """How a point is named in the probabilities file: family, regime and training pairs."""
    return f"{family}/{regime}/{n}"


def save_probabilities(path: Path, probabilities: dict[str, np.ndarray]) -> None:
    save_npz(path, **{k: v.astype(np.float32) for k, v in probabilities.items()})


def read_points(summary: Path, probabilities: Path) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The learning curve's points (its summary JSON) and the test probabilities of those it trained."""
    points = read_json(summary)["points"]
    try:
        with np.load(probabilities) as npz:
            return points, {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise InputError(f"{probabilities}: not found (run the stage that writes it first: dvc repro)") from None


def find_point(points: list[dict], family: str, regime: str, n: int) -> dict | None:
    return next((p for p in points if p["family"] == family and p["regime"] == regime and p["n"] == n), None)
