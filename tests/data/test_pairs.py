import numpy as np
import pytest

from mnistsum.data.pairs import (
    build_dataset,
    class_counts,
    content_hash,
    digit_indices,
    disjoint_pairs,
    load_pairs,
    make_pairs,
    protocol_split,
    save_pairs,
)
from mnistsum.errors import InputError


def test_labels_are_sums_and_halves_are_the_sources(mnist, tiny_splits):
    for name, pairs in tiny_splits.items():
        source_x = mnist.x_test if name == "test" else mnist.x_train
        source_y = mnist.y_test if name == "test" else mnist.y_train
        assert np.array_equal(pairs.y, pairs.top_label + pairs.bottom_label)
        assert np.array_equal(pairs.top_label, source_y[pairs.top_index])
        assert np.array_equal(pairs.bottom_label, source_y[pairs.bottom_index])
        top, bottom = pairs.digits()
        assert np.array_equal(top, source_x[pairs.top_index])
        assert np.array_equal(bottom, source_x[pairs.bottom_index])


def test_unique_digits_are_each_distinct_digit_once(mnist, tiny_splits):
    test = tiny_splits["test"]
    images, labels = test.unique_digits()
    indices = np.unique(np.concatenate([test.top_index, test.bottom_index]))
    assert len(indices) < 2 * len(test)  # drawn with replacement: some digits repeat, and appear here once
    assert np.array_equal(images, mnist.x_test[indices]) and np.array_equal(labels, mnist.y_test[indices])


def test_shapes_dtypes_and_split_sizes(tiny_splits):
    assert {k: len(v) for k, v in tiny_splits.items()} == {"train": 800, "val": 200, "test": 300}
    train = tiny_splits["train"]
    assert train.x.shape == (800, 56, 28) and train.x.dtype == np.uint8
    assert train.y.dtype == np.uint8 and train.y.max() <= 18
    assert train.flat().shape == (800, 1568) and train.flat().dtype == np.float32 and train.flat().max() <= 1


def test_same_seed_same_bytes_other_seed_differs(mnist, tmp_path):
    a = build_dataset(mnist, 500, 100, 0.2, seed=42)
    b = build_dataset(mnist, 500, 100, 0.2, seed=42)
    c = build_dataset(mnist, 500, 100, 0.2, seed=43)
    assert content_hash(a) == content_hash(b) != content_hash(c)
    save_pairs(tmp_path / "a.npz", a["train"])
    save_pairs(tmp_path / "b.npz", b["train"])
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert np.array_equal(load_pairs(tmp_path / "a.npz").x, a["train"].x)


def test_sum_distribution_shape(mnist):
    counts = np.array(class_counts(build_dataset(mnist, 60000, 10000, 0.2, seed=42)["train"].y))
    assert counts.argmax() == 9
    assert set(np.argsort(counts)[:2]) == {0, 18}


def test_pairs_are_labelled_by_their_halves(mnist):
    pairs = make_pairs(mnist.x_train, mnist.y_train, 2000, np.random.default_rng(0))
    assert np.array_equal(pairs.y, pairs.top_label + pairs.bottom_label)
    assert np.array_equal(pairs.x[:, :28], mnist.x_train[pairs.top_index])
    assert np.array_equal(pairs.x[:, 28:], mnist.x_train[pairs.bottom_index])


def test_load_pairs_errors(tmp_path):
    with pytest.raises(InputError, match="pairs file not found"):
        load_pairs(tmp_path / "train.npz")
    np.savez(tmp_path / "bad.npz", x=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(InputError, match="missing arrays"):
        load_pairs(tmp_path / "bad.npz")


def test_validation_digits_are_not_training_digits(mnist):
    """At the defaults no MNIST image appears in both training and validation pairs; the report's way reuses them."""
    clean = build_dataset(mnist, 60000, 1000, 0.2, seed=42)
    assert not set(digit_indices(clean["train"])) & set(digit_indices(clean["val"]))
    assert len(clean["train"]) == 48000 and len(clean["val"]) == 12000
    # The pools split the 60,000 digits 80/20, and pairing still uses most of each pool.
    assert len(digit_indices(clean["val"])) > 0.8 * 12000 and digit_indices(clean["val"]).max() < 60000
    report = build_dataset(mnist, 60000, 1000, 0.2, seed=42, split="pairs")
    assert len(set(digit_indices(report["train"])) & set(digit_indices(report["val"]))) > 10000


def test_disjoint_pairs_use_each_digit_exactly_once(mnist):
    pairs = disjoint_pairs(mnist.x_test, mnist.y_test, np.random.default_rng(3))
    assert len(pairs) == 5000
    used = np.concatenate([pairs.top_index, pairs.bottom_index])
    assert np.array_equal(np.sort(used), np.arange(10000))
    assert np.array_equal(pairs.y, mnist.y_test[pairs.top_index] + mnist.y_test[pairs.bottom_index])
    assert np.array_equal(pairs.x[:, :28], mnist.x_test[pairs.top_index])
    other = disjoint_pairs(mnist.x_test, mnist.y_test, np.random.default_rng(4))
    assert not np.array_equal(pairs.top_index, other.top_index)  # the seed decides the pairing


def test_the_addition_protocol_pairs_every_digit_once_in_train_and_test(mnist):
    split = protocol_split(mnist, seed=0, val_pairs=3000)
    assert [len(split[s]) for s in ("train", "val", "test")] == [27000, 3000, 5000]
    train_digits = np.concatenate(
        [split[s].top_index for s in ("train", "val")] + [split[s].bottom_index for s in ("train", "val")]
    )
    assert np.array_equal(np.sort(train_digits), np.arange(60000))  # 30,000 pairs, each training digit once
    test_digits = np.concatenate([split["test"].top_index, split["test"].bottom_index])
    assert np.array_equal(np.sort(test_digits), np.arange(10000))  # 5,000 pairs, each test digit once
