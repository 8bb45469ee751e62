"""DVC stages `study1`..`study4`: one seeded, resumable Optuna study each, every trial an MLflow child run.

One script serves the four studies because they differ only in their search space, which lives in the
library; the stage name picks it and its params section. The stage is worker 0 of its study: more workers
(`mnistsum worker STAGE`, on any machine that reaches the same Optuna database and tracking server) share the
trials, and the stage writes its outs once all of them have finished.
"""

from mnistsum.search.spaces import SEARCH_STAGES
from mnistsum.stages import command, studies

if __name__ == "__main__":
    command.main(studies, stages=SEARCH_STAGES)
