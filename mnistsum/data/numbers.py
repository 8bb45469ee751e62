"""MNIST addition of two N-digit numbers, as the neuro-symbolic literature builds it: per seed, a permutation of
the 60,000 MNIST training digits uses each once, 2N to an example (the top row one number, the bottom row the
other, most significant digit first), giving 60,000 // (2N) training examples; the 10,000 test digits likewise
give 10,000 // (2N). The label is the integer sum only (Python ints: two 100-digit numbers exceed int64)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Numbers:
    """Examples of two N-digit numbers: `index` (m, 2, N) into `images` (the MNIST split's digits), their digit
    labels (m, 2, N) kept hidden from training, and the sums."""

    images: np.ndarray  # (digits, 28, 28) uint8
    index: np.ndarray  # (m, 2, N): row 0 the top number, row 1 the bottom, most significant digit first
    digit_labels: np.ndarray  # (m, 2, N)
    sums: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.index)

    @property
    def n_digits(self) -> int:
        return self.index.shape[2]

    def grid(self, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """The examples' images, 56 x 28N uint8 pixels: each number a row of N digits."""
        cells = self.images[self.index[rows]]  # (m, 2, N, 28, 28)
        m, n = cells.shape[0], self.n_digits
        return cells.transpose(0, 1, 3, 2, 4).reshape(m, 56, 28 * n)

    def take(self, rows: slice | np.ndarray) -> Numbers:
        index = self.index[rows]
        return Numbers(self.images, index, self.digit_labels[rows], tuple(np.asarray(self.sums, object)[rows]))


def _numbers(images: np.ndarray, labels: np.ndarray, n_digits: int, rng: np.random.Generator) -> Numbers:
    m = len(images) // (2 * n_digits)
    index = rng.permutation(len(images))[: m * 2 * n_digits].reshape(m, 2, n_digits)
    digits = labels[index].astype(np.int64)
    weights = [10 ** (n_digits - 1 - k) for k in range(n_digits)]  # most significant first
    sums = tuple(
        sum(int(d) * w for d, w in zip(row[0], weights)) + sum(int(d) * w for d, w in zip(row[1], weights))
        for row in digits
    )
    return Numbers(images, index, digits, sums)


def numbers_split(mnist, n_digits: int, seed: int, val_examples: int) -> dict[str, Numbers]:
    """One seed's examples: the first `val_examples` training examples held out for early stopping."""
    if n_digits < 1:
        raise ValueError(f"n_digits {n_digits}: expected at least 1")
    rng = np.random.default_rng(seed)
    train = _numbers(mnist.x_train, mnist.y_train, n_digits, rng)
    test = _numbers(mnist.x_test, mnist.y_test, n_digits, rng)
    if not 0 <= val_examples < len(train):
        raise ValueError(f"val_examples {val_examples}: expected 0 to {len(train) - 1} of {len(train)}")
    return {"train": train.take(slice(val_examples, None)), "val": train.take(slice(0, val_examples)), "test": test}
