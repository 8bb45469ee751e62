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

from mnistsum import figures, tracking
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
    parser.add_argument("--figure", type=Path, help="also draw every variant's per-epoch curves into this PNG")
    parser.add_argument("variants", nargs="+", help="NAME=JSON: changes to the base spec")
    args = parser.parse_args()
    pairs = {split: load_split(args.data, split) for split in ("train", "val", "test")}
    base = json.loads(args.base)
    run_ids = {}
    # One MLflow parent (experiment `benchmarks`) with a child per variant holding its per-epoch metrics.
    with tracking.start_run(
        "benchmarks", f"small-budget recipes n={args.n}", params={"base": base, "n": args.n}, regime=args.regime
    ) as parent:
        for variant in args.variants:
            name, change = variant.split("=", 1)
            spec = spec_from_dict(base | json.loads(change))
            with tracking.start_run(
                "benchmarks", name, params=spec.to_dict(), parent_run_id=parent.info.run_id, regime=args.regime
            ) as child:
                t0 = time.perf_counter()
                budget = SmallBudget(400, 60, 1000, 4)
                run_id = run_ids[name] = child.info.run_id
                r = fit_at_size(spec, pairs, args.n, budget, 128, args.seed, run_id, name, args.regime)
            print(
                f"{name} n={args.n} {args.regime}: val {r['val_accuracy']:.4f} test {r['test_accuracy']:.4f} "
                f"epochs {r['epochs_run']} ({time.perf_counter() - t0:.0f}s)",
                flush=True,
            )
    if args.figure:
        client = tracking.configure(read_only=True)

        def history(run_id: str, key: str) -> list[float]:
            return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]

        curves = {
            name: {key: history(run_id, key) for key in ("accuracy", "val_accuracy")}
            for name, run_id in run_ids.items()
        }
        title = f"{base['family']} on {args.n:,} pairs ({args.regime}): fit accuracy (train) and validation, per epoch"
        figures.save_figure(figures.accuracy_curves(curves, title), args.figure)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
