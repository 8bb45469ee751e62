"""DVC stage `activation`: the best study1 network with each activation (a plain loop, as in the report)."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import activation


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True, help="folder with train/val/test .npz")
    parser.add_argument("--previous", type=Path, required=True, help="study1's best configuration JSON")
    parser.add_argument("--out", type=Path, required=True, help="best configuration JSON")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    args = parser.parse_args()
    activation.run(load_params(args.params), activation.Paths(args.data, args.previous, args.out, args.metrics))


if __name__ == "__main__":
    main()
