"""DVC stages `study1`..`study4`: one seeded, resumable Optuna study each, every trial an MLflow child run.

One script serves the four studies because they differ only in their search space, which lives in the
library; the stage name picks it and its params section.
"""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.studies import SEARCH_STAGES, run_study


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage", choices=SEARCH_STAGES)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--previous", type=Path, help="best.json of the previous study (not for study1)")
    parser.add_argument("--storage", type=Path, required=True, help="Optuna journal file (kept between runs)")
    parser.add_argument("--out", type=Path, required=True, help="best configuration JSON")
    parser.add_argument("--plots", type=Path, required=True, help="folder for Optuna's figures")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    args = parser.parse_args()
    run_study(args.stage, load_params(args.params), args.data, args.previous, args.storage, args.out, args.plots,
              args.metrics)


if __name__ == "__main__":
    main()
