"""DVC stage `compare`: combined vs sequential logistic regression across training-set sizes, beside the sumnet's
points from the learning curve."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import compare


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True, help="folder with train/val/test .npz")
    parser.add_argument("--plots", type=Path, required=True, help="folder for the figures")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    parser.add_argument("--summary", type=Path, required=True, help="every size's scores (JSON)")
    parser.add_argument("--curve", type=Path, help="the learning curve's summary JSON (the sumnet's points)")
    parser.add_argument("--curve-probabilities", type=Path, help="the learning curve's test probabilities (.npz)")
    args = parser.parse_args()
    compare.run(
        load_params(args.params),
        compare.Paths(args.data, args.plots, args.metrics, args.summary, args.curve, args.curve_probabilities),
    )


if __name__ == "__main__":
    main()
