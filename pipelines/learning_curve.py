"""DVC stage `learning_curve`: MLP, CNN and sumnet at a few training sizes, beside the stages' own full runs."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.family_stage import run_learning_curve
from mnistsum.params import load_params


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--mlp", type=Path, required=True, help="the final MLP's best.json (its configuration)")
    parser.add_argument("--cnn", type=Path, required=True, help="the cnn stage's best.json")
    parser.add_argument("--sumnet", type=Path, required=True, help="the sumnet stage's best.json")
    parser.add_argument("--plots", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--summary", type=Path, required=True, help="every point (JSON)")
    args = parser.parse_args()
    run_learning_curve(load_params(args.params), args.data, args.mlp,
                       {"mlp": args.mlp, "cnn": args.cnn, "sumnet": args.sumnet}, args.plots, args.metrics,
                       args.summary)


if __name__ == "__main__":
    main()
