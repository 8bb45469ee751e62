"""DVC stage `final`: the studies' best network with batch norm and early stopping; saved and registered."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import final


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True, help="folder with train/val/test .npz")
    parser.add_argument("--previous", type=Path, required=True, help="study4's best configuration JSON")
    parser.add_argument("--base-history", type=Path, required=True, help="the base network's history.json")
    parser.add_argument("--out", type=Path, required=True, help="folder for model, weights, history, best.json")
    parser.add_argument("--plots", type=Path, required=True, help="folder for the run's figures")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    args = parser.parse_args()
    final.run(
        load_params(args.params),
        final.Paths(args.data, args.previous, args.base_history, args.out, args.plots, args.metrics),
    )


if __name__ == "__main__":
    main()
