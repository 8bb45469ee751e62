"""Stages `study1`..`study4`: the report's four sequential Optuna studies (section 3.2). The DVC stage is worker
0 of its study; `mnistsum worker STAGE` reads the stage's command from dvc.yaml (through the same parser,
mnistsum.stages.command) and joins as another worker, with no outs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnistsum.params import Params
from mnistsum.search.study import run_study


@dataclass(frozen=True)
class Paths:
    data: Path
    previous: Path | None  # the previous stage's best configuration JSON (none for study1)
    storage: Path  # the Optuna journal file (unused when MNISTSUM_OPTUNA_STORAGE is set)
    out: Path | None  # the best configuration JSON (None: a worker, which writes nothing)
    plots: Path | None
    metrics: Path | None


def run(params: Params, paths: Paths, stage: str, worker_id: int = 0) -> dict | None:
    """Run the study to its `n_trials`; the stage (worker 0, with outs) waits for every worker and writes the
    best configuration; another worker stops at the cap and writes nothing."""
    return run_study(
        stage,
        params,
        paths.data,
        paths.previous,
        paths.storage,
        paths.out,
        paths.plots,
        paths.metrics,
        worker_id=worker_id,
        wait=paths.out is not None,
    )
