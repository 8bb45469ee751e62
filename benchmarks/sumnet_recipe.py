"""Try one training recipe for a family on the default pairs, sum labels only, and print each epoch's
val/test sum accuracy (and the sumnet's digit accuracy against the hidden labels). How the default
params.yaml `sumnet` and `cnn` sections were chosen; run by hand, e.g.

  .venv/bin/python benchmarks/sumnet_recipe.py --data data/pairs \
      --spec '{"family": "sumnet", "filters": [32, 64], "convs_per_block": 1}' --epochs 10 --schedule cosine
"""

import argparse
import json
import time
from pathlib import Path

from mnistsum import models
from mnistsum.data.pairs import load_split
from mnistsum.models import spec_from_dict
from mnistsum.stages.family import evaluate
from mnistsum.training import train, training_arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/pairs"))
    parser.add_argument("--spec", required=True, help="a family spec as JSON")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--patience", type=int, default=None)
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="cosine")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--regime", choices=("sums", "digits"), default="sums")
    parser.add_argument("--plots", type=Path, default=Path("/tmp/sumnet_recipe"))
    args = parser.parse_args()
    spec = spec_from_dict(json.loads(args.spec))
    pairs = {split: load_split(args.data, split) for split in ("train", "val", "test")}
    t0 = time.perf_counter()
    result = train(
        spec,
        training_arrays(pairs, args.regime),
        args.epochs,
        args.batch_size,
        args.seed,
        label=spec.family,
        patience=args.patience,
        schedule=args.schedule,
        regime=args.regime,
        monitors=[lambda m: models.measures(m, {"val": pairs["val"], "test": pairs["test"]})],
    )
    seconds = time.perf_counter() - t0
    report, _ = evaluate(result.model, pairs, 15, args.plots, spec.family)
    print(
        json.dumps(
            {
                "spec": spec.to_dict(),
                "epochs": args.epochs,
                "schedule": args.schedule,
                "epochs_run": result.epochs_run,
                "train_seconds": round(seconds),
                **report,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
