"""DVC stage `final`: best configuration + batch norm + early stopping; saves and registers the model."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.studies import FinalOutputs, run_final


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--previous", type=Path, required=True, help="study4's best.json")
    parser.add_argument("--base-history", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for model, weights, history, best.json")
    parser.add_argument("--figure", type=Path, required=True, help="base-vs-final accuracy PNG")
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args()
    outs = FinalOutputs(model=args.out / "model.keras", weights=args.out / "model.weights.h5",
                        history=args.out / "history.json", summary=args.out / "best.json", figure=args.figure)
    run_final(load_params(args.params), args.data, args.previous, args.base_history, outs, args.metrics)


if __name__ == "__main__":
    main()
