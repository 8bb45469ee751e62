"""Runs: the run context (git commit, DVC stage, process), nested children, the one parent of an Optuna study
shared by every worker, batched logging, and the dataset inputs that say what a run saw."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import subprocess
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.data.numpy_dataset import from_numpy
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from mnistsum.machine import Elsewhere
from mnistsum.tracking.orphans import PROCESS_TAG, close_orphans, this_process
from mnistsum.tracking.store import configure, experiment_id

STUDY_PARENT_TAG = "optuna.study_parent"
PIPELINE_WRITES = ("dvc.lock", "metrics")  # tracked files `dvc repro` itself changes


@functools.cache
def git_state() -> dict[str, str]:
    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=True)
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD") or "unknown"
    # The pipeline itself rewrites dvc.lock and metrics/ as it runs: only other changes make a run's code dirty.
    dirty = bool(
        git(
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ":/",
            *(f":(top,exclude){p}" for p in PIPELINE_WRITES),
        )
    )
    return {"git.commit": commit, "mlflow.source.git.commit": commit, "git.dirty": str(dirty).lower()}


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = value
    return out


BUSY_METRIC = "cores_busy_elsewhere"
CORES_METRIC = "cores_used"
MACHINE_METRICS = (BUSY_METRIC, CORES_METRIC)  # how busy the machine was: differs between any two runs


def machine_metrics(elsewhere: Elsewhere) -> dict[str, float]:
    """A stage's share of the machine, as its parent run logs it: what the kernel said of it."""
    measured = {BUSY_METRIC: elsewhere.fraction, CORES_METRIC: elsewhere.own_cores}
    return {k: v for k, v in measured.items() if v is not None}


@contextlib.contextmanager
def start_run(
    experiment: str,
    name: str,
    stage: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    run_id: str | None = None,
    *,
    regime: str | None,
) -> Iterator[mlflow.ActiveRun]:
    """A run tagged with the git commit, DVC stage and the supervision `regime` of what it trains (`sums`,
    `digits`, `digit-labels`, several joined by commas; None for a run that trains nothing); a child when
    parent_run_id is given. The regime is required, so no training run can leave it out.

    Passing run_id resumes an existing run (a study picked up after an interruption).

    A stage's own run (no parent, not resumed) ends with `cores_busy_elsewhere`: the share of the cores other
    processes used while it ran, so a stage's time says whether it had the machine to itself; and `cores_used`:
    how many cores the stage itself (with its worker processes) kept busy on average.
    """
    client = configure()
    if parent_run_id is None:
        # A stage starting (or resuming) is where runs left RUNNING by a killed process get closed.
        close_orphans(client, client.get_run(run_id).info.experiment_id if run_id else experiment_id(experiment))
    all_tags = {
        **git_state(),
        "dvc.stage": os.environ.get("DVC_STAGE") or stage or "manual",
        PROCESS_TAG: this_process(),
    }
    if regime is not None:
        all_tags["regime"] = regime
    all_tags.update(tags or {})
    with mlflow.start_run(
        run_id=run_id,
        experiment_id=None if run_id else experiment_id(experiment),
        run_name=None if run_id else name,
        nested=parent_run_id is not None,
        parent_run_id=parent_run_id,
        tags=all_tags,
    ) as run:
        if params:
            log_params(run.info.run_id, params)
        if parent_run_id is not None or run_id is not None:
            yield run
            return
        with Elsewhere() as elsewhere:
            yield run
        log_metrics(run.info.run_id, machine_metrics(elsewhere))


def study_parent(
    experiment: str,
    name: str,
    study_name: str,
    stage: str,
    params: Mapping[str, Any],
    inputs: list | None = None,
    *,
    regime: str,
) -> str:
    """The one parent run of an Optuna study, shared by every worker on every machine: found by a tag that holds
    the study's name. Made race-safely: a worker that finds none creates one, then looks again, and every
    worker keeps the oldest; a worker whose own run lost deletes it. The parent carries no process tag, so a
    worker's exit never marks it killed; the DVC stage closes it when the study is done."""
    client = configure()
    exp = experiment_id(experiment)

    def parents() -> list:
        runs = client.search_runs([exp], filter_string=f"tags.`{STUDY_PARENT_TAG}` = '{study_name}'", max_results=100)
        return sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))

    found = parents()
    if found:
        return found[0].info.run_id
    tags = {
        **git_state(),
        "dvc.stage": os.environ.get("DVC_STAGE") or stage,
        STUDY_PARENT_TAG: study_name,
        "mlflow.runName": name,
        "regime": regime,
    }
    mine = client.create_run(exp, run_name=name, tags=tags).info.run_id
    chosen = parents()[0].info.run_id
    if chosen != mine:
        client.delete_run(mine)
        return chosen
    log_params(mine, params)
    log_datasets(mine, inputs or [])
    return mine


def log_params(run_id: str, params: Mapping[str, Any]) -> None:
    flat = [Param(k, str(v)[:6000]) for k, v in flatten(params).items()]
    client = MlflowClient()
    for i in range(0, len(flat), 100):
        client.log_batch(run_id, params=flat[i : i + 100])


def log_metrics(run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
    MlflowClient().log_batch(run_id, metrics=batch)


def log_history(run_id: str, history: Mapping[str, list[float]]) -> None:
    """Per-epoch values as step metrics, one batch for the whole history."""
    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, step) for k, vs in history.items() for step, v in enumerate(vs)]
    client = MlflowClient()
    for i in range(0, len(batch), 1000):
        client.log_batch(run_id, metrics=batch[i : i + 1000])


def log_tags(run_id: str, tags: Mapping[str, Any]) -> None:
    MlflowClient().log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])


def log_files(run_id: str, paths: list[str | Path], folder: str = "figures") -> None:
    client = MlflowClient()
    for path in paths:
        client.log_artifact(run_id, str(path), artifact_path=folder)


def child_runs(parent_run_id: str) -> list:
    """Every run whose parent is parent_run_id, oldest first."""
    client = configure()
    parent = client.get_run(parent_run_id)
    return client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        order_by=["attributes.start_time ASC"],
        max_results=5000,
    )


POINT_KEY_TAG = "mnistsum.point_key"  # a grid point's identity: estimator, its params, data, code
POINT_ROW_TAG = "mnistsum.point_row"  # the point's whole table row, JSON


def finished_points(experiment: str, stage: str, current_parent: str, keys: list[str]) -> dict[str, tuple[str, dict]]:
    """key -> (run id, row) of each grid point the stage's previous parent run (named after the stage, the newest
    before current_parent) fitted, where that run did not finish (killed or failed mid-grid): what a resumed grid
    need not fit again. After a finished run nothing is reused: a re-run fits afresh."""
    client = configure()
    exp = experiment_id(experiment)
    parents = client.search_runs(
        [exp], filter_string=f"attributes.run_name = '{stage}'", order_by=["attributes.start_time DESC"], max_results=2
    )
    previous = next((r for r in parents if r.info.run_id != current_parent), None)
    if previous is None or previous.info.status == "FINISHED":
        return {}
    wanted, out = set(keys), {}
    for run in child_runs(previous.info.run_id):
        key = run.data.tags.get(POINT_KEY_TAG)
        if run.info.status == "FINISHED" and key in wanted and POINT_ROW_TAG in run.data.tags:
            out[key] = (run.info.run_id, json.loads(run.data.tags[POINT_ROW_TAG]))
    return out


def dataset_input(split: str, source: str | Path, x: Any, y: Any, digest: str, name: str = "") -> Any:
    """One MLflow dataset input: the arrays a run saw (schema and shape), the pair file's content digest,
    and the split as its context, so the UI's Dataset column says what each run trained or was scored on."""
    with warnings.catch_warnings():
        # A local path matches MLflow's local-artifact source twice over; it warns, then picks that one.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        ds = from_numpy(x, targets=y, source=str(source), name=name or f"pairs-{split}", digest=digest[:32])
    return DatasetInput(ds._to_mlflow_entity(), [InputTag(MLFLOW_DATASET_CONTEXT, split)])


def pair_inputs(
    data_dir: str | Path,
    ids: Mapping[str, str],
    xy: Mapping[str, tuple[Any, Any]],
    subsets: Mapping[str, str] | None = None,
) -> list:
    """Dataset inputs for the splits in `xy` (split -> (x, y) as the run saw them). `ids` holds each pair
    file's sha256; a split in `subsets` (split -> description, e.g. "50% seed 42") was a seeded subset of
    its file, so its name and digest say so."""
    out = []
    for split, (x, y) in xy.items():
        digest, name = ids[split], f"pairs-{split}"
        if subsets and split in subsets:
            digest = hashlib.sha256(f"{digest}:{subsets[split]}".encode()).hexdigest()
            name = f"pairs-{split}[{subsets[split]}]"
        out.append(dataset_input(split, Path(data_dir) / f"{split}.npz", x, y, digest, name))
    return out


def log_datasets(run_id: str, inputs: list) -> None:
    if inputs:
        MlflowClient().log_inputs(run_id, datasets=inputs)
