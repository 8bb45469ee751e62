"""The one package that talks to MLflow.

- `store`: the tracking URI, its checks, the local SQLite store (re-rooted when a clone moves), the experiments;
- `runs`: the run context and its tags, nested runs, the shared parent of an Optuna study, batched logging and
  dataset inputs;
- `orphans`: closing runs whose process was killed;
- `registry`: logging a model as a self-contained pyfunc, registering it and moving its alias (import it
  where a model is registered: it is not re-exported here);
- `diff`: `mnistsum runs diff`.

Stages use the names re-exported below as `tracking.start_run`, `tracking.log_metrics`, ...
"""

from mnistsum.tracking.orphans import PROCESS_TAG, close_orphans, process_alive, this_process
from mnistsum.tracking.runs import (
    BUSY_METRIC,
    CORES_METRIC,
    MACHINE_METRICS,
    POINT_KEY_TAG,
    POINT_ROW_TAG,
    STUDY_PARENT_TAG,
    child_runs,
    dataset_input,
    finished_points,
    flatten,
    git_state,
    log_datasets,
    log_files,
    log_history,
    log_metrics,
    log_params,
    log_tags,
    machine_metrics,
    pair_inputs,
    start_run,
    study_parent,
)
from mnistsum.tracking.store import (
    ARTIFACT_COLUMNS,
    DEFAULT_URI,
    EXPERIMENTS,
    absolute_uri,
    check_reachable,
    check_uri,
    configure,
    experiment_id,
    relocate_store,
    sqlite_dir,
    tracking_uri,
    without_secret,
)

__all__ = [
    "ARTIFACT_COLUMNS",
    "BUSY_METRIC",
    "CORES_METRIC",
    "MACHINE_METRICS",
    "DEFAULT_URI",
    "EXPERIMENTS",
    "POINT_KEY_TAG",
    "POINT_ROW_TAG",
    "PROCESS_TAG",
    "STUDY_PARENT_TAG",
    "absolute_uri",
    "check_reachable",
    "check_uri",
    "child_runs",
    "close_orphans",
    "configure",
    "dataset_input",
    "finished_points",
    "experiment_id",
    "flatten",
    "git_state",
    "log_datasets",
    "log_files",
    "log_history",
    "log_metrics",
    "log_params",
    "log_tags",
    "machine_metrics",
    "pair_inputs",
    "process_alive",
    "relocate_store",
    "sqlite_dir",
    "start_run",
    "study_parent",
    "this_process",
    "tracking_uri",
    "without_secret",
]
