"""What a network trains on: raw pixels and sum labels per split (`Arrays`), and in the `digits` regime the feed
of fresh pairs drawn each epoch from the training pairs' own digits (`FreshPairs`, gathered inside tf.data).

Every tf.data pipeline here, and every one Keras builds from arrays (fit, validation, evaluate, predict), runs
without tf.data's autotuner (`without_autotune`): on this TensorFlow, deleting an iterator waits for the autotuner's
thread to end its sleep, and that sleep doubles with the iterator's age, so an epoch's end (or an evaluate's)
intermittently stalled for about as long as the epoch had run (measured: 4.2-4.7 s after 5 s CNN epochs, none
without it). The batches, their order and so the trained weights are unchanged."""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

# TF prints harmless C++ graph warnings on every fit; Python exceptions still surface.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter  # noqa: E402

from mnistsum.data.pairs import Pairs  # noqa: E402
from mnistsum.params import REGIMES, Regime  # noqa: E402


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _arrays_without_autotune() -> None:
    """Keras turns arrays into a tf.data pipeline in ArrayDataAdapter.get_tf_dataset; wrap it once, so that
    every fit, evaluate and predict on arrays in this process runs without the autotuner (see above)."""
    build = ArrayDataAdapter.get_tf_dataset
    if getattr(build, "without_autotune", False):
        return

    @functools.wraps(build)
    def get_tf_dataset(self):
        return without_autotune(build(self))

    get_tf_dataset.without_autotune = True
    ArrayDataAdapter.get_tf_dataset = get_tf_dataset


_arrays_without_autotune()


@dataclass
class Arrays:
    """Raw (n, 56, 28) uint8 pixels and sum labels for train, validation and test, as every family takes them.
    Digit labels are not here: training sees sums only. `train_pairs` (which keeps them) is only for drawing
    fresh pairs each epoch, which needs the digits' labels to label the new pairs."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_pairs: Pairs | None = None  # the source of x_train, for drawing fresh pairs each epoch

    @classmethod
    def from_pairs(cls, train: Pairs, val: Pairs, test: Pairs) -> Arrays:
        return cls(
            train.x,
            train.y.astype(np.int64),
            val.x,
            val.y.astype(np.int64),
            test.x,
            test.y.astype(np.int64),
            train,
        )

    @classmethod
    def sums_only(cls, train: Pairs, val: Pairs, test: Pairs) -> Arrays:
        """Pixels and sum labels alone: what the sumnet trains from."""
        return cls(train.x, train.y.astype(np.int64), val.x, val.y.astype(np.int64), test.x, test.y.astype(np.int64))


def training_arrays(pairs: dict[str, Pairs], regime: Regime) -> Arrays:
    """What a network trains on: in `sums`, pixels and sum labels only; in `digits`, also the training digits'
    labels, to label the fresh pairs drawn each epoch."""
    if regime not in REGIMES:
        raise ValueError(f"unknown training regime {regime!r}; expected one of {', '.join(REGIMES)}")
    make = Arrays.from_pairs if regime == "digits" else Arrays.sums_only
    return make(pairs["train"], pairs["val"], pairs["test"])


class FreshPairs:
    """Training pairs drawn anew each epoch from the training pairs' own digit images.

    The digit images (and their labels) are exactly those of the training pairs, so validation and test
    stay as clean as before; only the combinations are new. One epoch is as many pairs as the file holds,
    so an epoch costs the same, but the network rarely sees the same combination twice.

    Every epoch's combinations are drawn from the seeded generator before training and gathered inside tf.data,
    so no Python generator feeds the steps (Keras runs one through tf.data.Dataset.from_generator, which nearly
    doubled a conv step). The pairs are drawn independently, so batches are taken in the order drawn."""

    def __init__(self, pairs: Pairs, batch_size: int, seed: int):
        self.images, labels = pairs.unique_digits()
        self.labels = labels.astype(np.int64)
        self.n, self.batch_size = len(pairs), batch_size
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        """One epoch's combinations: the indices of each pair's top and bottom digit."""
        top, bottom = self.rng.integers(0, len(self.images), size=(2, self.n))
        return top, bottom

    def dataset(self, epochs: int) -> tf.data.Dataset:
        """`epochs` epochs of batches, one after another: fit it with steps_per_epoch=len(self), so that Keras
        keeps one iterator over all of them."""
        steps, size = len(self), self.batch_size
        tops, bottoms = tf.unstack(tf.constant(np.stack([self.draw() for _ in range(epochs)], axis=1), tf.int64))
        images, labels = tf.constant(self.images), tf.constant(self.labels)

        def batch(epoch: tf.Tensor, step: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            top = tops[epoch, step * size : (step + 1) * size]
            bottom = bottoms[epoch, step * size : (step + 1) * size]
            x = tf.concat([tf.gather(images, top), tf.gather(images, bottom)], axis=1)
            return x, tf.gather(labels, top) + tf.gather(labels, bottom)

        index = (np.repeat(np.arange(epochs), steps), np.tile(np.arange(steps), epochs))
        return without_autotune(tf.data.Dataset.from_tensor_slices(index).map(batch).prefetch(tf.data.AUTOTUNE))
