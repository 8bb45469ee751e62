"""DVC stage `base_mlp`: the report's base network (1 hidden layer of 50 relu units, 20 epochs)."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import base_mlp


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True, help="folder with train/val/test .npz")
    parser.add_argument("--out", type=Path, required=True, help="folder for best.json, history.json, accuracy.png")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    args = parser.parse_args()
    base_mlp.run(load_params(args.params), base_mlp.Paths(args.data, args.out, args.metrics))


if __name__ == "__main__":
    main()
