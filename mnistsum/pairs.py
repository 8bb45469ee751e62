"""The two-digit dataset: random MNIST pairs stacked vertically into 56x28 images labelled by their sum."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from mnistsum.errors import InputError
from mnistsum.files import save_npz

N_CLASSES = 19  # sums 0..18


@dataclass(frozen=True)
class Pairs:
    x: np.ndarray  # (n, 56, 28) uint8: top digit in rows 0-27, bottom digit in rows 28-55
    y: np.ndarray  # (n,) uint8 sum of the two digit labels
    top_index: np.ndarray  # (n,) int64 index of the top digit in its MNIST split
    bottom_index: np.ndarray
    top_label: np.ndarray  # (n,) uint8
    bottom_label: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: np.ndarray | slice) -> Pairs:
        return Pairs(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def head(self, n: int) -> Pairs:
        return self.take(slice(0, n))

    def flat(self) -> np.ndarray:
        """Flattened float32 pixels in [0, 1], as every model sees them."""
        return self.x.reshape(len(self), -1).astype(np.float32) / 255.0

    def digits(self) -> tuple[np.ndarray, np.ndarray]:
        """The top and bottom 28x28 digits, undoing the stacking."""
        return self.x[:, :28, :], self.x[:, 28:, :]


def make_pairs(images: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator) -> Pairs:
    """Draw n pairs with replacement (as the report does) and stack them, all at once."""
    idx = rng.integers(0, len(images), size=(2, n))
    top, bottom = idx
    return Pairs(
        x=np.concatenate([images[top], images[bottom]], axis=1),
        y=(labels[top] + labels[bottom]).astype(np.uint8),
        top_index=top.astype(np.int64),
        bottom_index=bottom.astype(np.int64),
        top_label=labels[top].astype(np.uint8),
        bottom_label=labels[bottom].astype(np.uint8),
    )


def make_pairs_loop(images: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator) -> Pairs:
    """The report's per-sample loop, kept only as the benchmark's reference point."""
    xs, ys, tops, bottoms = [], [], [], []
    for _ in range(n):
        i, j = rng.integers(0, len(images)), rng.integers(0, len(images))
        xs.append(np.concatenate((images[i], images[j]), axis=0))
        ys.append(labels[i] + labels[j])
        tops.append(i)
        bottoms.append(j)
    top, bottom = np.array(tops), np.array(bottoms)
    return Pairs(np.array(xs), np.array(ys, dtype=np.uint8), top, bottom,
                 labels[top].astype(np.uint8), labels[bottom].astype(np.uint8))


def split_pairs(pairs: Pairs, val_fraction: float, rng: np.random.Generator) -> tuple[Pairs, Pairs]:
    """Shuffle, then split off val_fraction for validation (the report's train_test_split, seeded)."""
    order = rng.permutation(len(pairs))
    n_val = int(round(len(pairs) * val_fraction))
    return pairs.take(order[n_val:]), pairs.take(order[:n_val])


def build_dataset(mnist, train_pairs: int, test_pairs: int, val_fraction: float, seed: int) -> dict[str, Pairs]:
    """train/val/test pairs; one seeded generator makes the whole dataset reproducible byte for byte."""
    rng = np.random.default_rng(seed)
    train_val = make_pairs(mnist.x_train, mnist.y_train, train_pairs, rng)
    test = make_pairs(mnist.x_test, mnist.y_test, test_pairs, rng)
    train, val = split_pairs(train_val, val_fraction, rng)
    return {"train": train, "val": val, "test": test}


def save_pairs(path: str | Path, pairs: Pairs) -> None:
    save_npz(path, **{f.name: getattr(pairs, f.name) for f in fields(Pairs)})


def load_pairs(path: str | Path) -> Pairs:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: pairs file not found (run: dvc repro prepare)")
    with np.load(path) as f:
        missing = {fl.name for fl in fields(Pairs)} - set(f.files)
        if missing:
            raise InputError(f"{path}: missing arrays {sorted(missing)}")
        pairs = Pairs(**{fl.name: f[fl.name] for fl in fields(Pairs)})
    if pairs.x.ndim != 3 or pairs.x.shape[1:] != (56, 28):
        raise InputError(f"{path}: x has shape {pairs.x.shape}, expected (n, 56, 28)")
    return pairs


def load_split(data_dir: str | Path, split: str) -> Pairs:
    return load_pairs(Path(data_dir) / f"{split}.npz")


def content_hash(splits: dict[str, Pairs]) -> str:
    """sha256 over every array of every split: the dataset's identity in MLflow."""
    h = hashlib.sha256()
    for name in sorted(splits):
        for f in fields(Pairs):
            arr = np.ascontiguousarray(getattr(splits[name], f.name))
            h.update(f"{name}/{f.name}/{arr.dtype}/{arr.shape}".encode())
            h.update(arr.tobytes())
    return h.hexdigest()


def class_counts(y: np.ndarray) -> list[int]:
    return np.bincount(y, minlength=N_CLASSES).tolist()
