"""DVC stage `prepare`: build the two-digit pairs from offline MNIST and draw the exploration figures."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import prepare


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True, help="folder for train/val/test .npz")
    parser.add_argument("--summary", type=Path, required=True, help="sizes, class counts and content hash (JSON)")
    parser.add_argument("--plots", type=Path, required=True, help="folder for the figures")
    args = parser.parse_args()
    prepare.run(load_params(args.params), prepare.Paths(args.data, args.summary, args.plots))


if __name__ == "__main__":
    main()
