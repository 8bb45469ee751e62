"""What a training stage loads: the three pair files (a seeded subset of the training pairs when searching),
each file's content digest, and the same as MLflow dataset inputs, so every run says what it saw."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistsum import tracking
from mnistsum.data.pairs import Pairs, load_split, split_ids

SPLITS = ("train", "val", "test")


@dataclass
class StageData:
    """The pairs as loaded (digit labels included: for measuring and for forming fresh pairs only), each pair
    file's sha256, those as MLflow dataset inputs, and how the training pairs were subset, if they were."""

    pairs: dict[str, Pairs]
    ids: dict[str, str]
    inputs: list
    subset: str = ""

    @property
    def identity(self) -> str:
        """The content of everything a trial trains and is scored on."""
        return hashlib.sha256(json.dumps([self.ids, self.subset], sort_keys=True).encode()).hexdigest()


def load_data(data_dir: Path, train_fraction: float, seed: int) -> StageData:
    """Validation and test in full; a seeded subset of the training pairs when `train_fraction` < 1."""
    pairs = {split: load_split(data_dir, split) for split in SPLITS}
    subset = ""
    if train_fraction < 1:
        train = pairs["train"]
        keep = np.sort(np.random.default_rng(seed).permutation(len(train))[: max(1, int(len(train) * train_fraction))])
        pairs["train"] = train.take(keep)
        subset = f"{train_fraction:g} seed {seed}"
    ids = split_ids(data_dir)
    inputs = tracking.pair_inputs(
        data_dir, ids, {k: (p.x, p.y) for k, p in pairs.items()}, {"train": subset} if subset else None
    )
    return StageData(pairs, ids, inputs, subset)
