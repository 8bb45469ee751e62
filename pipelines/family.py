"""DVC stages of one family each (`cnn`, `sumnet`, ...): the network of the params section named like the stage,
trained on the given pairs with early stopping on validation, evaluated, saved and registered (under its own
name and the cross-family `mnistsum`)."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import family


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage", help="the params section of the family stage (cnn, sumnet, ...)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True, help="folder with train/val/test .npz")
    parser.add_argument("--out", type=Path, required=True, help="folder for model.keras, history.json, best.json")
    parser.add_argument("--plots", type=Path, required=True, help="folder for the run's figures")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    args = parser.parse_args()
    family.run(load_params(args.params), family.Paths(args.data, args.out, args.plots, args.metrics), args.stage)


if __name__ == "__main__":
    main()
