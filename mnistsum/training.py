"""Training any model family (mnistsum.models) on the pairs: per-epoch tracking, measurements, early stopping
and an optional learning-rate schedule, fed by mnistsum.data.feed. Families are built from their spec; nothing
here knows which one."""

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

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mnistsum import models, tracking  # noqa: E402
from mnistsum.data import feed  # noqa: E402
from mnistsum.data.feed import Arrays, FreshPairs  # noqa: E402
from mnistsum.models import served  # noqa: E402
from mnistsum.models.served import model_input  # noqa: E402
from mnistsum.models.specs import Spec  # noqa: E402
from mnistsum.params import REGIMES, Regime  # noqa: E402

# Rows per batch wherever a network only predicts (validation, test, inference): a forward pass has no batch
# size to respect, and Keras's own for validation (the fit's 128, or 32 where fit takes a dataset) spent a step's
# overhead every 128 or 32 rows: the final's epoch validated in 375 steps. Weights and accuracies are the same at
# any size, only a loss's last float digits move (measured: docs/reproduction.md).
EVAL_BATCH = 2048


def code_digest(family: str) -> str:
    """Identity of the code that builds, feeds and trains a network of `family` (this module, the feed, the
    family's module, the shared layers, the specs and the input contract): part of a study's name and a model version's
    tags, so changed network code never reuses old trials, while another family's change leaves them alone."""
    folder = Path(models.__file__).parent
    family_file = Path(models.family(family).__file__)
    h = hashlib.sha256()
    for path in (
        Path(__file__),
        Path(feed.__file__),
        Path(served.__file__),
        folder / "parts.py",
        folder / "specs.py",
        family_file,
    ):
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
            test_loss, test_acc = self.model.evaluate(
                self.data.x_test, self.data.y_test, batch_size=EVAL_BATCH, verbose=0
            )
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
    precision: str = "float32",
) -> TrainResult:
    """Fit a fresh network of spec's family on sum labels; with patience, stop early on validation accuracy and
    restore the best weights. In the `digits` regime, each epoch trains on fresh combinations of the training
    digits (FreshPairs); in `sums`, on the given pairs. With schedule="cosine", the learning rate decays over
    `epochs`. Monitors measure each epoch; track_test=False leaves test out of the per-epoch curves (it is still
    scored once at the end). precision="bfloat16" trains in mixed precision (the params refuse it where the CPU
    lacks it: params.check_precision); the families' probability heads stay float32."""
    seed_everything(seed)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    if run_id:
        tracking.log_params(run_id, {"precision": precision})
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
            shuffle=False,  # each epoch's pairs are freshly drawn at random
            validation_data=(data.x_val, data.y_val),
            validation_batch_size=EVAL_BATCH,
            epochs=epochs,
            callbacks=cbs,
            verbose=0,
        )
    else:
        model.fit(
            data.x_train,
            data.y_train,
            validation_data=(data.x_val, data.y_val),
            validation_batch_size=EVAL_BATCH,
            epochs=epochs,
            batch_size=batch_size,
            callbacks=cbs,
            verbose=0,
            shuffle=True,
        )
    _, val_acc = model.evaluate(data.x_val, data.y_val, batch_size=EVAL_BATCH, verbose=0)
    _, test_acc = model.evaluate(data.x_test, data.y_test, batch_size=EVAL_BATCH, verbose=0)
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
    return np.asarray(model.predict(model_input(x), batch_size=EVAL_BATCH, verbose=0))


def pairs_per_second(model, x: np.ndarray, repeats: int = 2) -> float:
    """Inference throughput on this machine: the best of `repeats` timed passes after a warm-up."""
    inputs = model_input(x)
    model.predict(inputs[:256], batch_size=EVAL_BATCH, verbose=0)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict(inputs, batch_size=EVAL_BATCH, verbose=0)
        best = min(best, time.perf_counter() - t0)
    return len(x) / best
