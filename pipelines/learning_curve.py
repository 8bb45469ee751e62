"""DVC stage `learning_curve`: every family in every regime at a few training sizes and at all pairs."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import learning_curve


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True, help="folder with train/val/test .npz")
    parser.add_argument("--stage-results", type=Path, nargs="+", required=True, help="each family stage's best.json")
    parser.add_argument("--plots", type=Path, required=True, help="folder for the figure")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    parser.add_argument("--summary", type=Path, required=True, help="every point (JSON)")
    parser.add_argument("--probabilities", type=Path, required=True, help="every trained point's test probabilities")
    args = parser.parse_args()
    learning_curve.run(
        load_params(args.params),
        learning_curve.Paths(
            args.data, tuple(args.stage_results), args.plots, args.metrics, args.summary, args.probabilities
        ),
    )


if __name__ == "__main__":
    main()
