"""DVC stage `logreg`: the report's logistic regression grids, every point an MLflow run."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import grid, logreg


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True, help="folder with train/val/test .npz")
    parser.add_argument("--table", type=Path, required=True, help="results table; .csv and .md are written")
    parser.add_argument("--summary", type=Path, required=True, help="the stage's whole summary (JSON)")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    parser.add_argument("--plots", type=Path, required=True, help="folder for the figures")
    args = parser.parse_args()
    logreg.run(load_params(args.params), grid.Paths(args.data, args.table, args.summary, args.metrics, args.plots))


if __name__ == "__main__":
    main()
