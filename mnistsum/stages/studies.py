"""Stages `study1`..`study4`: the report's four sequential Optuna studies (section 3.2). The DVC stage is worker
0 of its study; `mnistsum worker STAGE` reads the stage's command from dvc.yaml and joins as another worker."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from mnistsum.params import Params
from mnistsum.search.spaces import SEARCH_STAGES
from mnistsum.search.study import run_study


@dataclass(frozen=True)
class Paths:
    data: Path
    previous: Path | None  # the previous stage's best configuration JSON (none for study1)
    storage: Path  # the Optuna journal file (unused when MNISTSUM_OPTUNA_STORAGE is set)
    out: Path | None  # the best configuration JSON (None: a worker, which writes nothing)
    plots: Path | None
    metrics: Path | None


def parser() -> argparse.ArgumentParser:
    """The study stages' command line, shared by pipelines/study.py and `mnistsum worker` (which reads the
    stage's command from dvc.yaml, so paths stay written once)."""
    parser = argparse.ArgumentParser(description="One seeded, resumable Optuna study; every trial an MLflow run.")
    parser.add_argument("stage", choices=SEARCH_STAGES)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--previous", type=Path, help="best.json of the previous study (not for study1)")
    parser.add_argument(
        "--storage",
        type=Path,
        required=True,
        help="Optuna journal file (kept between runs); unused when MNISTSUM_OPTUNA_STORAGE is set",
    )
    parser.add_argument("--out", type=Path, required=True, help="best configuration JSON")
    parser.add_argument("--plots", type=Path, required=True, help="folder for Optuna's figures")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    return parser


def paths_from(args: argparse.Namespace, root: Path = Path("."), worker: bool = False) -> Paths:
    """The stage's paths from its parsed command line, under `root`; a worker's outs are None."""

    def at(p: Path | None) -> Path | None:
        return None if p is None else root / p

    return Paths(
        at(args.data),
        at(args.previous),
        at(args.storage),
        None if worker else at(args.out),
        None if worker else at(args.plots),
        None if worker else at(args.metrics),
    )


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
