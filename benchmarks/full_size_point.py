"""One all-pairs point of the learning curve that the default run leaves out (`learning_curve.full_size_regimes`):
a family stage's recipe (its spec, epochs, patience and schedule in the params file) on all the training pairs of
`--data` in `--regime`, trained and scored as the learning_curve stage trains such a point (`stage_recipe` and
`fit_at_size`, with `base.seed` and `base.batch_size`), without the rest of the pipeline. Prints validation and
test sum accuracy, test ECE, the family's own measures (the sumnet's digit accuracy on the test pairs' digits),
epochs and training seconds; logs one MLflow run (experiment `benchmarks`) with the per-epoch curves. Needs the
pairs of `prepare` (`dvc repro prepare`). The README's families table in `digits`:

  .venv/bin/python benchmarks/full_size_point.py --family cnn --regime digits
  .venv/bin/python benchmarks/full_size_point.py --family sumnet --regime digits
"""

import argparse
from pathlib import Path

import numpy as np

from mnistsum import metrics, tracking
from mnistsum.data.splits import load_data
from mnistsum.params import load_params
from mnistsum.stages.learning_curve import stage_recipe
from mnistsum.training import fit_at_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", choices=("cnn", "sumnet"), required=True, help="the family stage whose recipe")
    parser.add_argument("--regime", choices=("sums", "digits"), required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, default=Path("data/pairs"))
    args = parser.parse_args()
    params = load_params(args.params)
    stage = getattr(params, args.family)
    seed, batch = params.base.seed, params.base.batch_size
    pairs = load_data(args.data, 1.0, seed).pairs
    n = len(pairs["train"])
    budget = stage_recipe(stage.model_dump(), n, batch)
    name = f"{args.family} {args.regime} n={n}"
    with tracking.start_run(
        "benchmarks",
        f"full-size point: {name}",
        params={
            "family": args.family,
            "train_pairs": n,
            "config": stage.model.to_dict(),
            "seed": seed,
            "batch_size": batch,
            "epochs": budget.epochs(n, batch),
            "schedule": budget.schedule,
        },
        regime=args.regime,
    ) as run:
        r = fit_at_size(stage.model, pairs, n, budget, batch, seed, run.info.run_id, name, args.regime)
        r["test_ece"] = metrics.ece(r.pop("_proba"), pairs["test"].y.astype(np.int64), params.compare.ece_bins)
        tracking.log_metrics(run.info.run_id, {f"final_{k}": v for k, v in r.items() if isinstance(v, float)})
    print(
        f"{name}: val {r['val_accuracy']:.4f} test {r['test_accuracy']:.4f} ECE {r['test_ece']:.4f}"
        + "".join(f" {k} {v:.4f}" for k, v in r.items() if k.endswith("digit_accuracy"))
        + f" ({r['epochs_run']} of {r['epochs']} epochs, {r['train_seconds']:.0f} s training)",
        flush=True,
    )


if __name__ == "__main__":
    main()
