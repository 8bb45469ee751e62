"""Training any model family (mnistsum.models) on the pairs: per-epoch tracking, measurements, early stopping
and an optional learning-rate schedule, on all the training pairs or on a small budget of them. Families are
built from their spec; nothing here knows which one."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# TF prints harmless C++ graph warnings on every fit; Python exceptions still surface.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import math  # noqa: E402
import random  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mnistsum import models, tracking  # noqa: E402
from mnistsum.data.pairs import Pairs  # noqa: E402
from mnistsum.models import served  # noqa: E402
from mnistsum.models.served import model_input  # noqa: E402
from mnistsum.models.specs import Spec  # noqa: E402
from mnistsum.params import REGIMES, Regime  # noqa: E402


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
    val_pairs: Pairs | None = None  # raw validation pixels, as a registered model is scored on them

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
            val,
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

    Every epoch's combinations and batch order are drawn before training and gathered inside tf.data, so no
    Python generator feeds the steps: Keras runs a PyDataset through tf.data.Dataset.from_generator, which
    nearly doubled a conv step (benchmarks/digits_feed.py). The draws are those of the PyDataset this class
    replaced in 025b3a4, in the same order, so every result trained before stands."""

    def __init__(self, pairs: Pairs, batch_size: int, seed: int):
        self.images, labels = pairs.unique_digits()
        self.labels = labels.astype(np.int64)
        self.n, self.batch_size = len(pairs), batch_size
        self.rng = np.random.default_rng(seed)
        # The PyDataset drew once more than it trained on (Keras reset it before the first epoch); skipping
        # that draw keeps each seed's pairs what they were.
        self.draw()

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
        orders = []
        for _ in range(epochs):
            # Keras shuffled a PyDataset's batches with Python's `random` (seeded by seed_everything) at the
            # start of each epoch; the same calls in the same order give the same batches.
            order = list(range(steps))
            random.shuffle(order)
            orders.append(order)
        images, labels = tf.constant(self.images), tf.constant(self.labels)

        def batch(epoch: tf.Tensor, step: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            top = tops[epoch, step * size : (step + 1) * size]
            bottom = bottoms[epoch, step * size : (step + 1) * size]
            x = tf.concat([tf.gather(images, top), tf.gather(images, bottom)], axis=1)
            return x, tf.gather(labels, top) + tf.gather(labels, bottom)

        index = (np.repeat(np.arange(epochs), steps), np.concatenate(orders))
        return tf.data.Dataset.from_tensor_slices(index).map(batch).prefetch(tf.data.AUTOTUNE)


def code_digest(family: str) -> str:
    """Identity of the code that builds, feeds and trains a network of `family` (this module, the family's
    module, the shared layers, the specs and the input contract): part of a study's name and a model version's
    tags, so changed network code never reuses old trials, while another family's change leaves them alone."""
    folder = Path(models.__file__).parent
    family_file = Path(models.family(family).__file__)
    h = hashlib.sha256()
    for path in (Path(__file__), Path(served.__file__), folder / "parts.py", folder / "specs.py", family_file):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def seed_everything(seed: int) -> None:
    # One call seeds Python, numpy and the TensorFlow backend; determinism makes reruns bit-identical on CPU.
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    # Each training builds new models, so TF warns about retracing predict functions; the warning is noise here.
    tf.get_logger().setLevel("ERROR")


class EpochTracker(keras.callbacks.Callback):
    """Adds test loss/accuracy and the monitors' measurements to each epoch, keeps the full history, logs it
    live to an MLflow run and prints one progress line per epoch. A monitor is `model -> {name: value}`: it
    measures (the sumnet's digit accuracy, say) and never feeds training."""

    def __init__(
        self,
        data: Arrays,
        run_id: str | None,
        label: str,
        total_epochs: int,
        monitors: list[Callable[[keras.Model], dict[str, float]]] | None = None,
        track_test: bool = True,
    ):
        super().__init__()
        self.data, self.run_id, self.label, self.total = data, run_id, label, total_epochs
        self.track_test = track_test
        self.monitors = monitors or []
        self.history: dict[str, list[float]] = {}
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = dict(logs or {}, epoch_seconds=time.perf_counter() - self.epoch_started)
        test_acc = float("nan")
        if self.track_test:
            test_loss, test_acc = self.model.evaluate(self.data.x_test, self.data.y_test, batch_size=2048, verbose=0)
            logs.update(test_loss=test_loss, test_accuracy=test_acc)
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        for monitor in self.monitors:
            logs.update(monitor(self.model))
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))
        if self.run_id:
            tracking.log_metrics(self.run_id, logs, step=epoch)
        extra = "".join(f" {k} {v:.4f}" for k, v in logs.items() if k.endswith("digit_accuracy"))
        print(
            f"  {self.label} epoch {epoch + 1}/{self.total}: loss {logs['loss']:.4f} "
            f"acc {logs['accuracy']:.4f} val_acc {logs.get('val_accuracy', float('nan')):.4f} "
            f"test_acc {test_acc:.4f}{extra} ({time.perf_counter() - self.started:.0f}s)",
            flush=True,
        )

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started = time.perf_counter()


@dataclass
class TrainResult:
    model: keras.Model
    history: dict[str, list[float]]
    val_accuracy: float
    test_accuracy: float
    epochs_run: int
    stopped_early: bool = False

    def summary(self, spec: Spec, source: str, **extra: Any) -> dict[str, Any]:
        """What a stage writes about the network it trained: its config, accuracies, epochs and where it came from."""
        return {
            "config": spec.to_dict(),
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "epochs_run": self.epochs_run,
            "source": source,
            **extra,
        }


def cosine_schedule(learning_rate: float, steps_per_epoch: int, epochs: int):
    """Linear warm-up over the first half epoch, then cosine decay to zero by the last of `epochs` (the max, when
    stopping early), step by step. The warm-up matters for the sumnet: learning digits from sums alone, a full
    learning rate from the first step sometimes never leaves chance (measured: batch 256 at 2e-3)."""
    warmup = max(1, steps_per_epoch // 2)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, steps_per_epoch * epochs - warmup), warmup_target=learning_rate, warmup_steps=warmup
    )


def train(
    spec: Spec,
    data: Arrays,
    epochs: int,
    batch_size: int,
    seed: int,
    run_id: str | None = None,
    label: str = "train",
    callbacks: list | None = None,
    patience: int | None = None,
    regime: Regime = "sums",
    schedule: str = "constant",
    monitors: list[Callable[[keras.Model], dict[str, float]]] | None = None,
    track_test: bool = True,
) -> TrainResult:
    """Fit a fresh network of spec's family on sum labels; with patience, stop early on validation accuracy and
    restore the best weights. In the `digits` regime, each epoch trains on fresh combinations of the training
    digits (FreshPairs); in `sums`, on the given pairs. With schedule="cosine", the learning rate decays over
    `epochs`. Monitors measure each epoch; track_test=False leaves test out of the per-epoch curves (it is still
    scored once at the end)."""
    seed_everything(seed)
    model = models.build(spec)
    if schedule == "cosine":
        model.optimizer.learning_rate = cosine_schedule(
            spec.learning_rate, math.ceil(len(data.y_train) / batch_size), epochs
        )
    elif schedule != "constant":
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected constant or cosine")
    tracker = EpochTracker(data, run_id, label, epochs, monitors, track_test)
    cbs = [tracker, *(callbacks or [])]
    early = None
    if patience:
        early = keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=patience, restore_best_weights=True
        )
        cbs.append(early)
    if regime not in REGIMES:
        raise ValueError(f"unknown training regime {regime!r}; expected one of {', '.join(REGIMES)}")
    if regime == "digits":
        if data.train_pairs is None:
            raise ValueError("the digits regime needs the training pairs' digits (Arrays.from_pairs)")
        fresh = FreshPairs(data.train_pairs, batch_size, seed)
        model.fit(
            fresh.dataset(epochs),
            steps_per_epoch=len(fresh),
            shuffle=False,  # the dataset's batches are already in their shuffled order
            validation_data=(data.x_val, data.y_val),
            epochs=epochs,
            callbacks=cbs,
            verbose=0,
        )
    else:
        model.fit(
            data.x_train,
            data.y_train,
            validation_data=(data.x_val, data.y_val),
            epochs=epochs,
            batch_size=batch_size,
            callbacks=cbs,
            verbose=0,
            shuffle=True,
        )
    _, val_acc = model.evaluate(data.x_val, data.y_val, batch_size=2048, verbose=0)
    _, test_acc = model.evaluate(data.x_test, data.y_test, batch_size=2048, verbose=0)
    epochs_run = len(tracker.history.get("loss", []))
    return TrainResult(
        model,
        tracker.history,
        float(val_acc),
        float(test_acc),
        epochs_run,
        stopped_early=bool(early and early.stopped_epoch > 0),
    )


def predict_proba(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(model_input(x), batch_size=2048, verbose=0))


def pairs_per_second(model, x: np.ndarray, repeats: int = 2) -> float:
    """Inference throughput on this machine: the best of `repeats` timed passes after a warm-up."""
    inputs = model_input(x)
    model.predict(inputs[:256], batch_size=2048, verbose=0)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict(inputs, batch_size=2048, verbose=0)
        best = min(best, time.perf_counter() - t0)
    return len(x) / best


@dataclass(frozen=True)
class SmallBudget:
    """How a model trains on a subset: at least `min_steps` batches (a small set gets more epochs), at most
    `max_epochs`, early stopping on a fixed seeded subset of `val_size` validation pairs. Patience counts in
    full-size epochs' worth of batches: on 1,000 pairs an epoch is 8 batches, and 4 of them stopped a sumnet
    still at chance (measured: 0.10 at epoch 9; 0.96 when it trained its 400 batches)."""

    min_steps: int
    max_epochs: int
    val_size: int
    patience: int
    schedule: str = "cosine"

    def epochs(self, n: int, batch_size: int) -> int:
        return min(self.max_epochs, max(1, math.ceil(self.min_steps / math.ceil(n / batch_size))))

    def patience_epochs(self, n: int, full_n: int, batch_size: int) -> int:
        return max(self.patience, math.ceil(self.patience * math.ceil(full_n / batch_size) / math.ceil(n / batch_size)))


def fit_at_size(
    spec: Spec,
    pairs: dict[str, Pairs],
    n: int,
    budget: SmallBudget,
    batch_size: int,
    seed: int,
    run_id: str | None,
    label: str,
    regime: Regime = "sums",
) -> dict[str, Any]:
    """Train spec's family on the first n training pairs in `regime` (in `digits`, fresh pairs of those pairs'
    own digits) and score it on the whole test set. Returns accuracies, the test sum probabilities (`_proba`)
    and the family's own measures on test."""
    subset = pairs["train"].head(n)
    val = pairs["val"]
    if budget.val_size < len(val):
        val = val.take(np.sort(np.random.default_rng(seed).choice(len(val), budget.val_size, replace=False)))
    data = training_arrays({"train": subset, "val": val, "test": pairs["test"]}, regime)
    epochs = budget.epochs(n, batch_size)
    t0 = time.perf_counter()
    result = train(
        spec,
        data,
        epochs,
        batch_size,
        seed,
        run_id=run_id,
        label=label,
        patience=budget.patience_epochs(n, len(pairs["train"]), batch_size),
        schedule=budget.schedule,
        regime=regime,
        track_test=False,
    )
    out: dict[str, Any] = {
        "family": spec.family,
        "regime": regime,
        "n": n,
        "val_accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy,
        "epochs": epochs,
        "epochs_run": result.epochs_run,
        "train_seconds": time.perf_counter() - t0,
        "parameters": int(result.model.count_params()),
        "_proba": predict_proba(result.model, pairs["test"].x),
    }
    return out | models.measures(result.model, {"test": pairs["test"]})
