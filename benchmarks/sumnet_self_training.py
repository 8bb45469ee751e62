"""Does the sumnet read digits better if, once trained, it is taught by its own readings? One protocol seed
(benchmarks/mnist_addition.py's split and the sumnet as params.yaml trains it), then from that one trained
network, a few more epochs each way, every row starting from the same state:

- `sums`: the sumnet trained on for --epochs more on the pairs' sum labels (the control: is it only more steps?);
- `pseudo`: the encoder alone trained on single training digits, each labelled by the most likely pair of
  digits that adds up to its pair's sum label (the sum corrects the encoder's own reading); pairs whose best
  reading has a posterior below --min-posterior are left out. Sum labels only: no digit label is read;
- `oracle`: the same, labelled with the true digit labels. Not a method (the protocol gives no digit labels),
  it bounds what any labelling of these digits can give this encoder in these epochs;
- `supervised` (not in the default modes; alone, it trains no sumnet): a fresh encoder trained from the start on
  the true digit labels with the sumnet section's own budget (--supervised-patience replaces its patience). Not a
  method either: what the same network reads when every training digit's label is given.

Each extra phase decays the learning rate from --learning-rate to zero over its epochs (cosine), at the batch
of params.yaml in pairs (twice as many digits a batch for the encoder alone, so the steps match). Validation
chooses: a row beats `trained` only if its validation sum accuracy does; test is printed to report. The pseudo
labels' accuracy is measured against the hidden digit labels and printed, never used.
Each extra phase starts from the trained network's whole state (weights, batch-norm statistics and the random
layers' generator states) with the seed reset, so a row does not depend on the modes run before it (1-epoch
smokes: `pseudo` val 0.9667 run first and after `sums`; restoring the weights alone gave 0.9703 after `sums`).

  .venv/bin/python benchmarks/sumnet_self_training.py --seed 0 --out /tmp/self_training_0.json
"""

from __future__ import annotations

import argparse
import math
import time

import keras
import numpy as np
from sumnet_readout import one_seed_inputs, scored, train_one_seed

from mnistsum import files, training
from mnistsum.data.pairs import Pairs
from mnistsum.models import sumnet
from mnistsum.models.parts import predict
from mnistsum.params import Params

MODES = ["sums", "pseudo", "oracle", "supervised"]
# sum_mask[s, a, b] is true where digits a and b add up to s.
SUM_MASK = np.add.outer(np.arange(10), np.arange(10))[None] == np.arange(19)[:, None, None]


def pseudo_labels(encoder: keras.Model, train: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """Every training digit's label (top halves, then bottom halves) as the most likely pair of readings that
    adds up to its pair's sum label, and that pair's posterior given the sum (the same for both digits)."""
    p = predict(encoder, sumnet.digits_of(train.x)).astype(np.float64)
    n = len(train)
    joint = p[:n, :, None] * p[n:, None, :]  # (n, 10, 10): P(top = a) P(bottom = b)
    consistent = SUM_MASK[train.y.astype(int)]
    # The tiny floor keeps the posterior defined where every consistent reading's probability underflowed.
    joint = np.where(consistent, joint, 0.0) + 1e-300 * consistent
    best = joint.reshape(n, -1).argmax(1)
    posterior = joint.reshape(n, -1).max(1) / joint.reshape(n, -1).sum(1)
    top, bottom = np.divmod(best, 10)
    return np.concatenate([top, bottom]), np.concatenate([posterior, posterior])


def cosine(learning_rate: float, steps: int) -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, steps)))


def train_more(model: keras.Model, x: np.ndarray, y: np.ndarray, epochs: int, batch: int, learning_rate: float) -> None:
    """An extra phase: `epochs` more of `model` (the sumnet on pairs, or its encoder on digits), Adam from
    learning_rate decayed to zero (cosine)."""
    model.compile(
        optimizer=cosine(learning_rate, epochs * math.ceil(len(y) / batch)), loss="sparse_categorical_crossentropy"
    )
    model.fit(x, y.astype(np.int64), epochs=epochs, batch_size=batch, shuffle=True, verbose=0)


def digit_labels(pairs: Pairs) -> np.ndarray:
    """The hidden labels of the pairs' digits in digits_of's order: top halves, then bottom halves."""
    return np.concatenate([pairs.top_label, pairs.bottom_label]).astype(np.int64)


def train_supervised(params: Params, pairs: dict[str, Pairs], seed: int, patience: int | None) -> keras.Model:
    """A fresh digit encoder trained on the true labels of the training pairs' digits, with the sumnet section's
    recipe (epochs, warm-up and cosine, patience on the validation digits, restoring the best epoch; `patience`
    replaces the section's) at the batch of params.yaml in pairs, as digits (twice as many a batch, so the steps
    match)."""
    section, batch = params.sumnet, 2 * params.base.batch_size
    training.seed_everything(seed)
    encoder = sumnet.build_encoder(section.model)
    train, val = pairs["train"], pairs["val"]
    digits, labels = sumnet.digits_of(train.x), digit_labels(train)
    steps = math.ceil(len(labels) / batch)
    encoder.compile(
        optimizer=keras.optimizers.Adam(
            training.cosine_schedule(section.model.learning_rate, steps, section.max_epochs)
        ),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    early = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=patience or section.patience, restore_best_weights=True
    )
    encoder.fit(
        digits,
        labels,
        validation_data=(sumnet.digits_of(val.x), digit_labels(val)),
        epochs=section.max_epochs,
        batch_size=batch,
        shuffle=True,
        callbacks=[early],
        verbose=2,
    )
    return encoder


def main() -> None:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--epochs", type=int, default=3, help="epochs of each extra phase")
        parser.add_argument("--learning-rate", type=float, default=5e-4, help="where each extra phase's decay starts")
        parser.add_argument("--min-posterior", type=float, default=0.9)
        parser.add_argument(
            "--supervised-patience", type=int, help="the supervised encoder's patience (default: the sumnet section's)"
        )
        parser.add_argument("--modes", nargs="+", default=["sums", "pseudo", "oracle"], choices=MODES)

    args, params, pairs = one_seed_inputs(__doc__, add_arguments)
    batch = params.base.batch_size
    train = pairs["train"]
    rows = []

    extra = [mode for mode in args.modes if mode in ("sums", "pseudo", "oracle")]
    if extra:
        t0 = time.perf_counter()
        model = train_one_seed(params, pairs, args.seed).model
        encoder = model.get_layer(sumnet.ENCODER)
        # model.variables, not get_weights(): the random layers' generator states too (see the docstring).
        trained = [np.array(v) for v in model.variables]
        rows.append(scored(dict(mode="trained", minutes=(time.perf_counter() - t0) / 60), encoder, pairs))

        digits = sumnet.digits_of(train.x)
        truth = digit_labels(train)
        labels, posterior = pseudo_labels(encoder, train)
        kept = posterior >= args.min_posterior
        print(
            f"seed {args.seed}: pseudo labels wrong for {np.sum(labels != truth):,} of {len(labels):,} training "
            f"digits; posterior >= {args.min_posterior}: {kept.sum():,} kept, "
            f"{np.sum(labels[kept] != truth[kept]):,} of them wrong"
        )
        for mode in extra:
            for variable, value in zip(model.variables, trained, strict=True):
                variable.assign(value)
            keras.utils.set_random_seed(args.seed)
            t1 = time.perf_counter()
            if mode == "sums":
                train_more(model, train.x, train.y, args.epochs, batch, args.learning_rate)
            elif mode == "pseudo":
                train_more(encoder, digits[kept], labels[kept], args.epochs, 2 * batch, args.learning_rate)
            else:
                train_more(encoder, digits, truth, args.epochs, 2 * batch, args.learning_rate)
            rows.append(scored(dict(mode=mode, minutes=(time.perf_counter() - t1) / 60), encoder, pairs))
    if "supervised" in args.modes:
        t0 = time.perf_counter()
        encoder = train_supervised(params, pairs, args.seed, args.supervised_patience)
        rows.append(scored(dict(mode="supervised", minutes=(time.perf_counter() - t0) / 60), encoder, pairs))

    for r in rows:
        print(
            f"seed {args.seed} {r['mode']:10s} val sum {r['val_sum']:.4f} digits {r['val_digit']:.4f} | "
            f"test sum {r['test_sum']:.4f} digits {r['test_digit']:.4f} | {r['minutes']:.1f} min",
            flush=True,
        )
    if args.out:
        files.write_json(
            args.out, {"seed": args.seed, "args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}
        )


if __name__ == "__main__":
    main()
