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

    def unique_digits(self) -> tuple[np.ndarray, np.ndarray]:
        """Each distinct MNIST digit image in the pairs once (pairs draw with replacement): images and labels,
        in the order of their MNIST index."""
        index = np.concatenate([self.top_index, self.bottom_index])
        _, first = np.unique(index, return_index=True)
        return np.concatenate(self.digits())[first], np.concatenate([self.top_label, self.bottom_label])[first]


def make_pairs(
    images: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator, pool: np.ndarray | None = None
) -> Pairs:
    """Draw n pairs with replacement (as the report does) and stack them, all at once.

    With `pool`, both digits come from those image indices only; the indices kept are always the
    images' own, so pairs from disjoint pools provably share no digit image."""
    pool = np.arange(len(images)) if pool is None else np.asarray(pool)
    top, bottom = pool[rng.integers(0, len(pool), size=(2, n))]
    return Pairs(
        x=np.concatenate([images[top], images[bottom]], axis=1),
        y=(labels[top] + labels[bottom]).astype(np.uint8),
        top_index=top.astype(np.int64),
        bottom_index=bottom.astype(np.int64),
        top_label=labels[top].astype(np.uint8),
        bottom_label=labels[bottom].astype(np.uint8),
    )


def disjoint_pairs(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> Pairs:
    """The MNIST-addition literature's pairing: a seeded permutation of the digits, taken two at a time, so each
    digit is in exactly one pair (60,000 training digits make 30,000 pairs; 10,000 test digits 5,000)."""
    order = rng.permutation(len(images) - len(images) % 2)
    top, bottom = order[0::2], order[1::2]
    return Pairs(
        x=np.concatenate([images[top], images[bottom]], axis=1),
        y=(labels[top] + labels[bottom]).astype(np.uint8),
        top_index=top.astype(np.int64),
        bottom_index=bottom.astype(np.int64),
        top_label=labels[top].astype(np.uint8),
        bottom_label=labels[bottom].astype(np.uint8),
    )


def protocol_split(mnist, seed: int, val_pairs: int) -> dict[str, Pairs]:
    """The literature's MNIST-addition split for one seed (`mnist`: the MNIST arrays): every training digit in
    exactly one train or validation pair, every test digit in exactly one test pair; the first `val_pairs` of
    the training pairs are held out for early stopping."""
    rng = np.random.default_rng(seed)
    train = disjoint_pairs(mnist.x_train, mnist.y_train, rng)
    test = disjoint_pairs(mnist.x_test, mnist.y_test, rng)
    return {"train": train.take(slice(val_pairs, None)), "val": train.head(val_pairs), "test": test}


def split_pairs(pairs: Pairs, val_fraction: float, rng: np.random.Generator) -> tuple[Pairs, Pairs]:
    """Shuffle, then split off val_fraction for validation (the report's train_test_split, seeded)."""
    order = rng.permutation(len(pairs))
    n_val = int(round(len(pairs) * val_fraction))
    return pairs.take(order[n_val:]), pairs.take(order[:n_val])


SPLITS = ("digits", "pairs")


def build_dataset(
    mnist, train_pairs: int, test_pairs: int, val_fraction: float, seed: int, split: str = "digits"
) -> dict[str, Pairs]:
    """train/val/test pairs; one seeded generator makes the whole dataset reproducible byte for byte.

    split="digits" (default) first splits the MNIST training digits into disjoint train and validation
    pools, then pairs within each pool, so no validation pair shows a digit image seen in training.
    split="pairs" is the report's way: pair first, then split the pairs (validation then reuses
    training digits and reads optimistic). Test pairs always come from the MNIST test digits only."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = np.random.default_rng(seed)
    n_val = int(round(train_pairs * val_fraction))
    if split == "pairs":
        train_val = make_pairs(mnist.x_train, mnist.y_train, train_pairs, rng)
        test = make_pairs(mnist.x_test, mnist.y_test, test_pairs, rng)
        train, val = split_pairs(train_val, val_fraction, rng)
        return {"train": train, "val": val, "test": test}
    order = rng.permutation(len(mnist.x_train))
    n_val_digits = int(round(len(order) * val_fraction))
    val_pool, train_pool = np.sort(order[:n_val_digits]), np.sort(order[n_val_digits:])
    train = make_pairs(mnist.x_train, mnist.y_train, train_pairs - n_val, rng, pool=train_pool)
    val = make_pairs(mnist.x_train, mnist.y_train, n_val, rng, pool=val_pool)
    test = make_pairs(mnist.x_test, mnist.y_test, test_pairs, rng)
    return {"train": train, "val": val, "test": test}


def digit_indices(pairs: Pairs) -> np.ndarray:
    """Every MNIST image index the pairs use, once each."""
    return np.unique(np.concatenate([pairs.top_index, pairs.bottom_index]))


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


def file_sha256(path: str | Path) -> str:
    """Content identity of a pair file (save_pairs writes the same bytes for the same arrays)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def split_ids(data_dir: str | Path) -> dict[str, str]:
    """sha256 of each split's pair file: what promotion and study identity compare."""
    return {split: file_sha256(Path(data_dir) / f"{split}.npz") for split in ("train", "val", "test")}


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
