"""Do several sumnets read digits better than one? One protocol seed (benchmarks/mnist_addition.py's split:
27,000 training pairs, 3,000 validation, 5,000 test), K sumnets trained as params.yaml trains one, each from its
own initial weights and batch order (training seed = protocol seed + 1000 k), and every prefix of them scored as
an ensemble: the digit probabilities averaged over members, then the one sum convolution (as one sumnet reads).

Validation chooses: the ensemble is better only if its validation sum accuracy is; test is printed to report.
Each member costs one sumnet's training, so K members cost K times the minutes of `mnist_addition.py`.

  .venv/bin/python benchmarks/sumnet_ensemble.py --seed 0 --members 2 --out /tmp/ensemble_0.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from mnist_addition import protocol_split
from sumnet_readout import digit_probabilities, one_seed_arguments, sum_and_digit_accuracy, train_one_seed

from mnistsum.models import sumnet
from mnistsum.params import load_params


def main() -> None:
    parser = one_seed_arguments(
        argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    )
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--epochs", type=int, help="each member's epochs (default: the sumnet section's max_epochs)")
    args = parser.parse_args()
    params = load_params(args.params)
    epochs = args.epochs or params.sumnet.max_epochs
    pairs = protocol_split(args.seed, args.val_pairs)
    probabilities: dict[str, list[np.ndarray]] = {"val": [], "test": []}
    rows = []
    for k in range(args.members):
        t0 = time.perf_counter()
        result = train_one_seed(
            params, pairs, args.seed + 1000 * k, epochs=epochs, label=f"sumnet seed {args.seed} member {k}"
        )
        minutes = (time.perf_counter() - t0) / 60
        encoder = result.model.get_layer(sumnet.ENCODER)
        for split in probabilities:
            probabilities[split].append(digit_probabilities(encoder, pairs[split], [(0, 0)]))
        for name, members in (("member", slice(k, k + 1)), ("ensemble", slice(0, k + 1))):
            if name == "ensemble" and k == 0:
                continue
            mean = {split: np.mean(ps[members], axis=0) for split, ps in probabilities.items()}
            val_sum, val_digit = sum_and_digit_accuracy(mean["val"], pairs["val"])
            test_sum, test_digit = sum_and_digit_accuracy(mean["test"], pairs["test"])
            row = dict(
                what=f"{name} {k}" if name == "member" else f"ensemble of {k + 1}",
                epochs_run=result.epochs_run,
                minutes=minutes,
                val_sum=val_sum,
                val_digit=val_digit,
                test_sum=test_sum,
                test_digit=test_digit,
            )
            rows.append(row)
            print(
                f"seed {args.seed} {row['what']:14s} val sum {val_sum:.4f} digits {val_digit:.4f}"
                f" | test sum {test_sum:.4f} digits {test_digit:.4f} ({minutes:.1f} min for this member)",
                flush=True,
            )
    if args.out:
        args.out.write_text(json.dumps({"seed": args.seed, "epochs": epochs, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
