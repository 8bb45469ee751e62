"""DVC stages `cnn` and `sumnet`: one convolutional family each, trained on the sum labels with early stopping
on validation, reported, saved and registered (under its own name and the cross-family `mnistsum`)."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.family_stage import FamilyOutputs, run_family
from mnistsum.params import load_params


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage", choices=("cnn", "sumnet"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for model.keras, history.json, best.json")
    parser.add_argument("--plots", type=Path, required=True, help="folder for the run's figures")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    args = parser.parse_args()
    run_family(args.stage, load_params(args.params), args.data, FamilyOutputs(args.out, args.plots, args.metrics))


if __name__ == "__main__":
    main()
