"""Recipes for one family on the learning curve's small budget, chosen on validation: each variant of a base spec
trains on the first n pairs (at least 400 batches, cosine schedule, early stopping on 1,000 validation pairs) and
prints its per-epoch curve and val/test sum accuracy. How the plain CNN's recipe was found (README: "What was
wrong with the CNN"); run by hand, e.g.

  .venv/bin/python benchmarks/small_budget_recipes.py --data data/pairs --n 10000 \\
      --base '{"family": "cnn", "filters": [16, 32], "dense": 128, "dropout": 0.2}' \\
      'bn={"batch_norm": true}' 'no_bn={"batch_norm": false}'
"""

import argparse
import json
import time
from pathlib import Path

from mnistsum.data.pairs import load_split
from mnistsum.models import spec_from_dict
from mnistsum.training import SmallBudget, fit_at_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/pairs"))
    parser.add_argument("--n", type=int, default=10000, help="training pairs (the first n of the file)")
    parser.add_argument("--base", required=True, help="the base spec as JSON")
    parser.add_argument("--regime", choices=("sums", "digits"), default="sums")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("variants", nargs="+", help="NAME=JSON: changes to the base spec")
    args = parser.parse_args()
    pairs = {split: load_split(args.data, split) for split in ("train", "val", "test")}
    base = json.loads(args.base)
    for variant in args.variants:
        name, change = variant.split("=", 1)
        spec = spec_from_dict(base | json.loads(change))
        t0 = time.perf_counter()
        r = fit_at_size(spec, pairs, args.n, SmallBudget(400, 60, 1000, 4), 128, args.seed, None, name, args.regime)
        print(
            f"{name} n={args.n} {args.regime}: val {r['val_accuracy']:.4f} test {r['test_accuracy']:.4f} "
            f"epochs {r['epochs_run']} ({time.perf_counter() - t0:.0f}s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
