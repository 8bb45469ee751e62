"""DVC stages `logreg`, `svm`, `forest`: the report's classical baselines, every grid point an MLflow run.

One script serves the three stages; the stage name picks the study and its params section."""

import argparse
from pathlib import Path

from mnistsum.baselines import Outputs, run_forest, run_logreg, run_svm
from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params

STAGES = {"logreg": run_logreg, "svm": run_svm, "forest": run_forest}


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--table", type=Path, required=True, help="results table; .csv and .md are written")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    parser.add_argument("--summary", type=Path, required=True, help="the stage's whole summary (JSON)")
    parser.add_argument("--plots", type=Path, required=True)
    args = parser.parse_args()
    outs = Outputs(args.table.with_suffix(".csv"), args.table.with_suffix(".md"), args.metrics, args.plots,
                   args.summary)
    STAGES[args.stage](load_params(args.params), args.data, outs)


if __name__ == "__main__":
    main()
