"""Two N-digit numbers as the literature builds them: every MNIST digit in exactly one example."""

import numpy as np
import pytest

from mnistsum.data.numbers import numbers_split


@pytest.mark.parametrize("n", [2, 4, 15])
def test_each_digit_is_used_exactly_once_and_the_label_is_the_sum(mnist, n):
    split = numbers_split(mnist, n, seed=3, val_examples=10)
    train_digits = np.concatenate([split["train"].index.ravel(), split["val"].index.ravel()])
    assert len(split["train"]) + len(split["val"]) == 60_000 // (2 * n) and len(split["test"]) == 10_000 // (2 * n)
    assert len(np.unique(train_digits)) == len(train_digits) == (60_000 // (2 * n)) * 2 * n
    test_digits = split["test"].index.ravel()
    assert len(np.unique(test_digits)) == len(test_digits) and test_digits.max() < 10_000
    assert split["test"].images is mnist.x_test
    example = split["val"]
    top, bottom = (int("".join(map(str, row))) for row in mnist.y_train[example.index[0]])
    assert example.sums[0] == top + bottom  # most significant digit first, the sum an exact integer
    grid = example.grid(slice(0, 1))[0]
    assert grid.shape == (56, 28 * n)
    np.testing.assert_array_equal(grid[28:, 28:56], mnist.x_train[example.index[0, 1, 1]])  # bottom row, 2nd digit


def test_another_seed_pairs_differently_and_bad_sizes_are_refused(mnist):
    a, b = numbers_split(mnist, 2, 0, 5), numbers_split(mnist, 2, 1, 5)
    assert not np.array_equal(a["train"].index, b["train"].index)
    with pytest.raises(ValueError, match="val_examples"):
        numbers_split(mnist, 15, 0, 2000)
    with pytest.raises(ValueError, match="n_digits 0"):
        numbers_split(mnist, 0, 0, 1)
