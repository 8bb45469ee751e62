"""Keras 3 dense networks on flattened 56x28 pairs: building, training with per-epoch tracking."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

# TF prints harmless C++ graph warnings on every fit; Python exceptions still surface.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import math  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mnistsum import tracking  # noqa: E402
from mnistsum.pairs import N_CLASSES, Pairs  # noqa: E402
from mnistsum.sum_model import model_input  # noqa: E402

INPUT_DIM = 56 * 28
EMBEDDING_LAYER = "embedding"


@dataclass(frozen=True)
class MlpConfig:
    units: tuple[int, ...]
    activation: str = "relu"
    dropout: float = 0.0
    learning_rate: float = 1e-3
    batch_norm: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["units"] = list(self.units)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MlpConfig:
        return cls(**{**d, "units": tuple(int(u) for u in d["units"])})

    def replace(self, **changes: Any) -> MlpConfig:
        return MlpConfig.from_dict({**self.to_dict(), **changes})


@dataclass
class Arrays:
    """Float inputs and int labels for train, validation and test, as the networks see them."""

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
        return cls(train.flat(), train.y.astype(np.int64), val.flat(), val.y.astype(np.int64),
                   test.flat(), test.y.astype(np.int64), train, val)


class FreshPairs(keras.utils.PyDataset):
    """Training pairs drawn anew each epoch from the training pairs' own digit images.

    The digit images (and their labels) are exactly those of the training pairs, so validation and test
    stay as clean as before; only the combinations are new. One epoch is as many pairs as the file holds,
    so an epoch costs the same, but the network rarely sees the same combination twice."""

    def __init__(self, pairs: Pairs, batch_size: int, seed: int):
        super().__init__()
        index = np.concatenate([pairs.top_index, pairs.bottom_index])
        images = np.concatenate(pairs.digits())
        labels = np.concatenate([pairs.top_label, pairs.bottom_label]).astype(np.int64)
        _, first = np.unique(index, return_index=True)
        self.images, self.labels = images[first], labels[first]
        self.n, self.batch_size = len(pairs), batch_size
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        part = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[part], self.y[part]

    def on_epoch_end(self) -> None:
        top, bottom = self.rng.integers(0, len(self.images), size=(2, self.n))
        self.x = np.concatenate([self.images[top], self.images[bottom]], axis=1).reshape(self.n, -1)
        self.x = self.x.astype(np.float32) / 255.0
        self.y = self.labels[top] + self.labels[bottom]


def code_digest() -> str:
    """Identity of the code that builds, feeds and trains a network (this module and the input contract):
    part of a study's name, so changed network code never reuses old trials."""
    import hashlib
    from pathlib import Path

    from mnistsum import sum_model

    h = hashlib.sha256()
    for path in (Path(__file__), Path(sum_model.__file__)):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def seed_everything(seed: int) -> None:
    # One call seeds Python, numpy and the TensorFlow backend; determinism makes reruns bit-identical on CPU.
    keras.utils.set_random_seed(seed)
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def build_mlp(cfg: MlpConfig) -> keras.Model:
    """Dense layers (with optional batch norm and dropout) and a 19-way softmax; the last hidden layer
    is named 'embedding' so the t-SNE stage can read it back."""
    inputs = keras.Input(shape=(INPUT_DIM,), name="pixels")
    h = inputs
    for i, units in enumerate(cfg.units):
        last = i == len(cfg.units) - 1
        if cfg.batch_norm:
            h = keras.layers.Dense(units, use_bias=False, name=f"dense_{i}")(h)
            h = keras.layers.BatchNormalization(name=f"bn_{i}")(h)
            h = keras.layers.Activation(cfg.activation, name=EMBEDDING_LAYER if last else f"act_{i}")(h)
        else:
            h = keras.layers.Dense(units, activation=cfg.activation,
                                   name=EMBEDDING_LAYER if last else f"dense_{i}")(h)
        if cfg.dropout > 0:
            h = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(h)
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax", name="sum")(h)
    model = keras.Model(inputs, outputs, name="mnistsum_mlp")
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def embedding_model(model: keras.Model) -> keras.Model:
    return keras.Model(model.inputs, model.get_layer(EMBEDDING_LAYER).output)


class EpochTracker(keras.callbacks.Callback):
    """Adds test loss/accuracy to each epoch, keeps the full history, logs it live to an MLflow run
    and prints one progress line per epoch."""

    def __init__(self, data: Arrays, run_id: str | None, label: str, total_epochs: int):
        super().__init__()
        self.data, self.run_id, self.label, self.total = data, run_id, label, total_epochs
        self.history: dict[str, list[float]] = {}
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = dict(logs or {})
        test_loss, test_acc = self.model.evaluate(self.data.x_test, self.data.y_test, batch_size=2048, verbose=0)
        logs.update(test_loss=test_loss, test_accuracy=test_acc)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))
        if self.run_id:
            tracking.log_metrics(self.run_id, logs, step=epoch)
        print(f"  {self.label} epoch {epoch + 1}/{self.total}: loss {logs['loss']:.4f} "
              f"acc {logs['accuracy']:.4f} val_acc {logs.get('val_accuracy', float('nan')):.4f} "
              f"test_acc {test_acc:.4f} ({time.perf_counter() - self.started:.0f}s)", flush=True)


@dataclass
class TrainResult:
    model: keras.Model
    history: dict[str, list[float]]
    val_accuracy: float
    test_accuracy: float
    epochs_run: int
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def train(cfg: MlpConfig, data: Arrays, epochs: int, batch_size: int, seed: int, run_id: str | None = None,
          label: str = "train", callbacks: list | None = None, patience: int | None = None,
          resample: bool = False) -> TrainResult:
    """Fit a fresh network; with patience, stop early on validation accuracy and restore the best weights.
    With resample, each epoch trains on fresh combinations of the training digits (FreshPairs)."""
    seed_everything(seed)
    model = build_mlp(cfg)
    tracker = EpochTracker(data, run_id, label, epochs)
    cbs = [tracker, *(callbacks or [])]
    early = None
    if patience:
        early = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=patience,
                                              restore_best_weights=True)
        cbs.append(early)
    if resample:
        if data.train_pairs is None:
            raise ValueError("resample needs the training pairs (Arrays.from_pairs)")
        model.fit(FreshPairs(data.train_pairs, batch_size, seed), validation_data=(data.x_val, data.y_val),
                  epochs=epochs, callbacks=cbs, verbose=0)
    else:
        model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=epochs,
                  batch_size=batch_size, callbacks=cbs, verbose=0, shuffle=True)
    _, val_acc = model.evaluate(data.x_val, data.y_val, batch_size=2048, verbose=0)
    _, test_acc = model.evaluate(data.x_test, data.y_test, batch_size=2048, verbose=0)
    epochs_run = len(tracker.history.get("loss", []))
    return TrainResult(model, tracker.history, float(val_acc), float(test_acc), epochs_run,
                       stopped_early=bool(early and early.stopped_epoch > 0))


def predict_proba(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(model_input(x), batch_size=2048, verbose=0))
