"""Can the sumnet read digits better without training longer? One protocol seed (benchmarks/mnist_addition.py's
split: 27,000 training pairs, 3,000 validation, 5,000 test), the sumnet as params.yaml trains it, and the one
trained network scored several ways, so every row shares the same training run:

- weights: as trained (`final`); an exponential moving average of the trainable weights over every step
  (`ema0.99`, `ema0.998`; batch-norm statistics kept as trained); the mean of the last 3 or 5 epochs' weights
  (`swa3`, `swa5`);
- test-time shifts: none, or the digit probabilities averaged over the image and its 1-pixel shifts (4 or 8).

Validation chooses: a row beats `final none` only if its validation sum accuracy does; test is printed to report.
The moving averages add a copy of the weights per step, so this run's minutes are not the recipe's.

  .venv/bin/python benchmarks/sumnet_readout.py --seed 0 --out /tmp/readout_0.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from mnist_addition import protocol_split

from mnistsum import training
from mnistsum.data.pairs import Pairs
from mnistsum.models import served, sumnet
from mnistsum.models.parts import predict
from mnistsum.params import Params, load_params

SHIFTS = {
    "none": [(0, 0)],
    "shift5": [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)],
    "shift9": [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
}


class WeightAverages(keras.callbacks.Callback):
    """Moving averages of the trainable weights after every step, and every epoch's weights at its end."""

    def __init__(self, momenta: tuple[float, ...]):
        super().__init__()
        self.momenta = momenta
        self.ema: dict[float, list[np.ndarray]] = {}
        self.epoch_ends: list[list[np.ndarray]] = []

    def on_train_batch_end(self, batch, logs=None):
        weights = [np.asarray(v) for v in self.model.trainable_weights]
        for m in self.momenta:
            if m not in self.ema:
                self.ema[m] = [w.copy() for w in weights]
                continue
            for average, w in zip(self.ema[m], weights, strict=True):
                average *= m
                average += (1 - m) * w

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_ends.append([np.asarray(v).copy() for v in self.model.trainable_weights])


def shifted(digits: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """(n, 28, 28, 1) digits moved by whole pixels, the vacated rows and columns black."""
    out = np.zeros_like(digits)
    h, w = digits.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = digits[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def sum_and_digit_accuracy(p: np.ndarray, pairs: Pairs) -> tuple[float, float]:
    """From (2n, 10) digit probabilities (top halves, then bottom halves): sum accuracy (argmax of the
    convolution of the two digit distributions) and digit accuracy."""
    n = len(pairs)
    top, bottom = p[:n], p[n:]
    sums = keras.ops.convert_to_numpy(served.sum_distribution(top, bottom)).argmax(1)
    digit = ((top.argmax(1) == pairs.top_label).sum() + (bottom.argmax(1) == pairs.bottom_label).sum()) / (2 * n)
    return float((sums == pairs.y).mean()), float(digit)


def scored(row: dict, encoder: keras.Model, pairs: dict[str, Pairs]) -> dict:
    """The row with the encoder's validation and test sum and digit accuracy (no shifts) added."""
    row.update(zip(("val_sum", "val_digit"), score(encoder, pairs["val"], [(0, 0)]), strict=True))
    row.update(zip(("test_sum", "test_digit"), score(encoder, pairs["test"], [(0, 0)]), strict=True))
    return row


def digit_probabilities(encoder: keras.Model, pairs: Pairs, shifts: list[tuple[int, int]]) -> np.ndarray:
    """(2n, 10): every half's digit probabilities, averaged over the shifted copies."""
    digits = sumnet.digits_of(pairs.x)
    return np.mean([predict(encoder, shifted(digits, dy, dx)) for dy, dx in shifts], axis=0)


def score(encoder: keras.Model, pairs: Pairs, shifts: list[tuple[int, int]]) -> tuple[float, float]:
    return sum_and_digit_accuracy(digit_probabilities(encoder, pairs, shifts), pairs)


def one_seed_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every one-protocol-seed sumnet probe takes."""
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--val-pairs", type=int, default=3000)
    parser.add_argument("--out", type=Path, help="write every row as JSON here too")
    return parser


def one_seed_inputs(
    description: str, add_arguments: Callable[[argparse.ArgumentParser], object] | None = None
) -> tuple[argparse.Namespace, Params, dict[str, Pairs]]:
    """A one-seed probe's parsed options (its own, if add_arguments adds them), its params and the protocol
    seed's pairs."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    one_seed_arguments(parser)
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args()
    return args, load_params(args.params), protocol_split(args.seed, args.val_pairs)


def train_one_seed(
    params: Params, pairs: dict[str, Pairs], seed: int, callbacks=(), epochs: int | None = None, label: str = ""
) -> training.TrainResult:
    """The sumnet section's recipe on one protocol seed's pairs, sum labels only, as mnist_addition.py trains it
    (with `seed` as the training seed; epochs, when given, replace the section's max_epochs)."""
    section = params.sumnet
    return training.train(
        section.model,
        training.training_arrays(pairs, "sums"),
        epochs or section.max_epochs,
        params.base.batch_size,
        seed,
        label=label or f"sumnet seed {seed}",
        patience=section.patience,
        schedule=section.schedule,
        regime="sums",
        track_test=False,
        callbacks=list(callbacks),
    )


def main() -> None:
    args, params, pairs = one_seed_inputs(__doc__)
    averages = WeightAverages((0.99, 0.998))
    t0 = time.perf_counter()
    result = train_one_seed(params, pairs, args.seed, callbacks=[averages])
    minutes = (time.perf_counter() - t0) / 60
    model, encoder = result.model, result.model.get_layer(sumnet.ENCODER)
    trained = [np.asarray(v) for v in model.trainable_weights]
    candidates = {
        "final": trained,
        **{f"ema{m}": w for m, w in averages.ema.items()},
        **{f"swa{k}": [np.mean(ws, axis=0) for ws in zip(*averages.epoch_ends[-k:])] for k in (3, 5)},
    }
    rows = []
    for weights_name, weights in candidates.items():
        for variable, value in zip(model.trainable_weights, weights, strict=True):
            variable.assign(value)
        for shifts_name, shifts in SHIFTS.items():
            val_sum, val_digit = score(encoder, pairs["val"], shifts)
            test_sum, test_digit = score(encoder, pairs["test"], shifts)
            rows.append(
                dict(
                    weights=weights_name,
                    shifts=shifts_name,
                    val_sum=val_sum,
                    val_digit=val_digit,
                    test_sum=test_sum,
                    test_digit=test_digit,
                )
            )
            print(
                f"seed {args.seed} {weights_name:9s} {shifts_name:7s} val sum {val_sum:.4f} digits {val_digit:.4f}"
                f" | test sum {test_sum:.4f} digits {test_digit:.4f}",
                flush=True,
            )
    best = max(rows, key=lambda r: r["val_sum"])
    print(
        f"seed {args.seed}: {result.epochs_run} epochs, {minutes:.1f} min; validation picks "
        f"{best['weights']} {best['shifts']} (test sum {best['test_sum']:.4f})"
    )
    if args.out:
        args.out.write_text(json.dumps({"seed": args.seed, "minutes": minutes, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
