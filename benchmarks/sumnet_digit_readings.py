"""How does a sumnet read each digit? One protocol seed (benchmarks/mnist_addition.py's split and training, as
params.yaml or --params says), then the encoder on the seed's 10,000 test digits: the confusion of its argmax
readings, and for each true digit the mean probability it gives every digit. This is how a run that names almost
no digit right while most sums come out right (the third block on seed 3, README) was seen to read d as half d-1,
half d+1.

  .venv/bin/python benchmarks/sumnet_digit_readings.py --seed 3 --params P --out /tmp/readings_3.json
"""

from __future__ import annotations

import numpy as np
from sumnet_readout import one_seed_inputs, train_one_seed

from mnistsum import files
from mnistsum.metrics import confusion
from mnistsum.models import sumnet


def main() -> None:
    args, params, pairs = one_seed_inputs(__doc__)
    result = train_one_seed(params, pairs, args.seed)
    test = pairs["test"]
    views = sumnet.digit_views(result.model).predict(test.x, batch_size=2048, verbose=0)
    probabilities = np.concatenate([np.asarray(p) for p in views])
    labels = np.concatenate([test.top_label, test.bottom_label]).astype(int)
    readings = confusion(labels, probabilities.argmax(1), 10)
    mean_probabilities = np.stack([probabilities[labels == d].mean(0) for d in range(10)])
    digit_accuracy = float(np.trace(readings) / readings.sum())
    print(
        f"seed {args.seed}: val sum {result.val_accuracy:.4f}, test sum {result.test_accuracy:.4f}, "
        f"test digits {digit_accuracy:.4f} ({result.epochs_run} epochs)"
    )
    print("argmax readings (rows: the true digit, columns: read as)")
    print(np.array2string(readings, max_line_width=120))
    print("mean probability of each digit (rows: the true digit)")
    for d, row in enumerate(mean_probabilities):
        print(d, " ".join(f"{v:.2f}" for v in row))
    if args.out:
        files.write_json(
            args.out,
            {
                "seed": args.seed,
                "val_accuracy": result.val_accuracy,
                "test_accuracy": result.test_accuracy,
                "test_digit_accuracy": digit_accuracy,
                "readings": readings.tolist(),
                "mean_probabilities": mean_probabilities.round(4).tolist(),
            },
        )


if __name__ == "__main__":
    main()
