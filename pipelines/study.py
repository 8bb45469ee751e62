"""DVC stages `study1`..`study4`: one seeded, resumable Optuna study each, every trial an MLflow child run.

One script serves the four studies because they differ only in their search space, which lives in the
library; the stage name picks it and its params section. The stage is worker 0 of its study: more workers
(`mnistsum worker STAGE`, on any machine that reaches the same Optuna database and tracking server) share the
trials, and the stage writes its outs once all of them have finished.
"""

from mnistsum.errors import exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import studies


@exits_cleanly
def main() -> None:
    args = studies.parser().parse_args()
    studies.run(load_params(args.params), studies.paths_from(args), args.stage)


if __name__ == "__main__":
    main()
