"""Everything MLflow: where runs go, experiment names, the run context and its tags.

Runs land in sqlite:///mlruns/mlflow.db with artifacts under mlruns/<experiment>/ unless
MLFLOW_TRACKING_URI points elsewhere (a server, or another SQLite file in tests).

MLflow's SQL store keeps every artifact location as an absolute path, so a moved or copied clone would look for
its figures and models in the old place. Opening a local store re-roots those paths at the store's folder
(`relocate_store`): the locations are, in effect, relative to the store and the repo around it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

import mlflow  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from mnistsum.errors import InputError  # noqa: E402

DEFAULT_URI = "sqlite:///mlruns/mlflow.db"

# One experiment per part of the study; parent runs inside are named after the study or grid.
EXPERIMENTS = {
    "data": "data",
    "nn": "nn-studies",
    "tsne": "tsne",
    "baselines": "baselines",
    "compare": "compare",
}


# MLflow 3's UI opens experiments without this tag in its GenAI (traces) view; this one shows the runs table.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def _sqlite_dir(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):]).parent


# Stores this project runs on: a SQLite file, a tracking server, or a database MLflow supports.
SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql")


def check_uri(uri: str) -> None:
    """Refuse, in one line, a tracking URI MLflow cannot use here, before anything is written."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme == "file" or (not scheme and uri):
        raise InputError(f"MLFLOW_TRACKING_URI={uri!r}: plain file stores are off in MLflow 3; "
                         f"use sqlite:///path/mlflow.db or http(s)://server")
    if scheme not in SCHEMES:
        raise InputError(f"MLFLOW_TRACKING_URI={uri!r}: unsupported scheme {scheme!r}; expected one of "
                         f"{', '.join(s + ':' for s in SCHEMES)}")
    if scheme == "sqlite" and not uri.startswith("sqlite:///"):
        raise InputError(f"MLFLOW_TRACKING_URI={uri!r}: expected sqlite:///relative/path.db or sqlite:////abs/path.db")


def without_secret(uri: str) -> str:
    """The URI with any user:password@ part removed, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


@functools.cache
def check_reachable(uri: str | None = None) -> None:
    """A tracking server or database that does not answer fails within seconds, in one line naming it (never
    its password), before a stage writes anything; MLflow's own retries would take minutes. Once per process."""
    uri = uri or tracking_uri()
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    shown = without_secret(uri)
    try:
        if scheme in ("http", "https"):
            import requests

            answer = requests.get(uri.rstrip("/") + "/health", timeout=5)
            if answer.status_code != 200:
                raise OSError(f"/health answered HTTP {answer.status_code}")
        elif scheme in ("postgresql", "mysql", "mssql"):
            import sqlalchemy

            engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": 5})
            with engine.connect():
                pass
            engine.dispose()
        else:
            return
    except Exception as exc:  # requests, OS and driver errors all mean "cannot reach it"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        for secret in {_secret(uri)} - {None, ""}:
            reason = reason.replace(secret, "***")
        what = "tracking server" if scheme.startswith("http") else "tracking database"
        raise InputError(f"MLflow {what} {shown} (MLFLOW_TRACKING_URI) does not answer: {reason[:200]}; check "
                         "that it runs and that host and port are right") from None


def _secret(uri: str) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(uri).password


# Where MLflow 3's SQL store writes absolute artifact paths; the tests scan every table for any other.
ARTIFACT_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                    ("logged_models", "artifact_location"), ("model_versions", "storage_location"),
                    ("model_versions", "source"))


def _local_path(location: str | None) -> str | None:
    """The filesystem path of a file: URI or plain path; None for anything else (s3:, mlflow-artifacts:...)."""
    from urllib.parse import unquote, urlsplit

    if not location:
        return None
    if location.startswith("file:"):
        return unquote(urlsplit(location).path)
    return location if location.startswith("/") else None


def _recorded_roots(db) -> set[str]:
    """The folders this store's artifact paths were written under: our experiments live at <root>/<name>."""
    roots = set()
    for name, location in db.execute("SELECT name, artifact_location FROM experiments"):
        path = _local_path(location)
        if name in EXPERIMENTS.values() and path and path.endswith("/" + name):
            roots.add(path[: -len(name) - 1])
    return roots


def _same_folder(a: str, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@functools.cache
def relocate_store(db_path: Path) -> int:
    """Re-root the artifact paths of a SQLite store that was moved or copied, at the store's own folder.

    A no-op (one small read) where nothing moved; otherwise one transaction, so concurrent openers agree.
    Returns how many values were rewritten."""
    import sqlite3
    import sys

    folder = db_path.parent.resolve()

    def moved_from(db) -> list[str]:
        return sorted(r for r in _recorded_roots(db) - {str(folder)} if not _same_folder(r, folder))

    changed, old_roots = 0, []
    try:
        with contextlib.closing(sqlite3.connect(db_path, timeout=60, isolation_level=None)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "experiments" not in tables or not moved_from(db):
                return 0
            db.execute("BEGIN IMMEDIATE")
            old_roots = moved_from(db)  # again under the write lock: another process may have re-rooted it
            for old in old_roots:
                # Each spelling MLflow uses: a plain path, file:// + path, and the percent-encoded file URI.
                forms = {(old, str(folder)), ("file://" + old, "file://" + str(folder)),
                         (Path(old).as_uri(), folder.as_uri())}
                for table, column in ARTIFACT_COLUMNS:
                    if table not in tables:
                        continue
                    for before, after in forms:
                        changed += db.execute(
                            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                            f"WHERE substr({column}, 1, ?) = ? AND "
                            f"(length({column}) = ? OR substr({column}, ?, 1) = '/')",
                            (after, len(before) + 1, len(before), before, len(before), len(before) + 1)).rowcount
            db.execute("COMMIT")
    except sqlite3.Error as exc:  # a read-only copy, say: its runs still read, its artifacts point elsewhere
        print(f"note: the MLflow store {db_path} was moved but its artifact paths could not be re-rooted: {exc}",
              file=sys.stderr)
        return 0
    if changed:
        print(f"note: the MLflow store {db_path} moved from {', '.join(old_roots)}: re-rooted {changed} "
              f"artifact paths at {folder}", file=sys.stderr)
    return changed


def configure(read_only: bool = False) -> MlflowClient:
    """Point MLflow at the project's store and return a client.

    Writers create a SQLite store's folder; readers (predict, runs diff, report) never create a store: a
    missing SQLite file is an error naming the URI, so a typo cannot silently start an empty store."""
    uri = tracking_uri()
    check_uri(uri)
    folder = _sqlite_dir(uri)
    if folder is not None:
        db_path = Path(uri[len("sqlite:///"):])
        if read_only and not db_path.is_file():
            raise InputError(f"no MLflow store at {uri} (run dvc repro first, or set MLFLOW_TRACKING_URI)")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the MLflow store folder for {uri}: {exc.strerror}") from None
        if db_path.is_file():
            relocate_store(db_path.resolve())
    else:
        check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(key: str) -> str:
    """Id of the experiment for `key` (see EXPERIMENTS), created with an explicit artifact folder."""
    client = configure()
    name = EXPERIMENTS[key]
    found = client.get_experiment_by_name(name)
    if found is not None:
        if KIND_TAG not in found.tags:
            client.set_experiment_tag(found.experiment_id, KIND_TAG, KIND)
        return found.experiment_id
    folder = _sqlite_dir(tracking_uri())
    # A local store keeps artifacts beside the database; a server decides for itself.
    location = (folder / name).resolve().as_uri() if folder is not None else None
    try:
        return client.create_experiment(name, artifact_location=location, tags={KIND_TAG: KIND})
    except mlflow.exceptions.MlflowException:  # created meanwhile by another process
        return client.get_experiment_by_name(name).experiment_id


@functools.cache
def git_state() -> dict[str, str]:
    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=True)
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
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


@contextlib.contextmanager
def start_run(
    experiment: str,
    name: str,
    stage: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    run_id: str | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """A run tagged with the git commit and DVC stage; a child when parent_run_id is given.

    Passing run_id resumes an existing run (a study picked up after an interruption).
    """
    client = configure()
    if parent_run_id is None:
        # A stage starting (or resuming) is where runs left RUNNING by a killed process get closed.
        close_orphans(client, client.get_run(run_id).info.experiment_id if run_id else experiment_id(experiment))
    all_tags = {**git_state(), "dvc.stage": os.environ.get("DVC_STAGE") or stage or "manual",
                PROCESS_TAG: this_process()}
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
        yield run


PROCESS_TAG = "mnistsum.process"
STUDY_PARENT_TAG = "optuna.study_parent"


def study_parent(experiment: str, name: str, study_name: str, stage: str, params: Mapping[str, Any],
                 inputs: list | None = None) -> str:
    """The one parent run of an Optuna study, shared by every worker on every machine: found by a tag that holds
    the study's name. Made race-safely: a worker that finds none creates one, then looks again, and every
    worker keeps the oldest; a worker whose own run lost deletes it. The parent carries no process tag, so a
    worker's exit never marks it killed; the DVC stage closes it when the study is done."""
    client = configure()
    exp = experiment_id(experiment)

    def parents() -> list:
        runs = client.search_runs([exp], filter_string=f"tags.`{STUDY_PARENT_TAG}` = '{study_name}'",
                                  max_results=100)
        return sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))

    found = parents()
    if found:
        return found[0].info.run_id
    tags = {**git_state(), "dvc.stage": os.environ.get("DVC_STAGE") or stage, STUDY_PARENT_TAG: study_name,
            "mlflow.runName": name}
    mine = client.create_run(exp, run_name=name, tags=tags).info.run_id
    chosen = parents()[0].info.run_id
    if chosen != mine:
        client.delete_run(mine)
        return chosen
    log_params(mine, params)
    log_datasets(mine, inputs or [])
    return mine


@functools.cache
def this_process() -> str:
    """host:pid:start-time of this process; the start time tells a reused pid from the original."""
    import socket

    import psutil

    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time():.3f}"


def process_alive(owner: str) -> bool | None:
    """Whether the process named by a PROCESS_TAG value still runs; None when it ran on another host."""
    import socket

    import psutil

    try:
        host, pid, started = owner.rsplit(":", 2)
        if host != socket.gethostname():
            return None
        return abs(psutil.Process(int(pid)).create_time() - float(started)) < 0.01
    except (ValueError, psutil.Error):
        return False


def close_orphans(client: MlflowClient, experiment: str) -> list[str]:
    """Mark KILLED every RUNNING run of `experiment` whose process on this host is gone (a SIGKILLed stage
    or trial), with a trial_state tag for Optuna trials, so no run stays RUNNING forever. Runs of live
    processes and of other hosts are left alone."""
    closed = []
    for run in client.search_runs([experiment], filter_string="attributes.status = 'RUNNING'", max_results=5000):
        owner = run.data.tags.get(PROCESS_TAG)
        if owner is None or process_alive(owner) is not False:
            continue
        tags = {"orphan": f"closed as KILLED: process {owner} was gone"}
        if "optuna.trial" in run.data.tags:
            tags["trial_state"] = "FAIL"
        log_tags(run.info.run_id, tags)
        client.set_terminated(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    if closed:
        print(f"mlflow: closed {len(closed)} run(s) left RUNNING by a killed process", flush=True)
    return closed


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


@contextlib.contextmanager
def registry_lock(timeout: float = 600) -> Iterator[None]:
    """Serialise registry decisions (alias moves) between processes on this machine.

    Keyed by the tracking URI; a SQLite store keeps the lock beside its database."""
    import hashlib
    import tempfile

    from filelock import FileLock

    uri = tracking_uri()
    folder = _sqlite_dir(uri)
    if folder is not None:
        path = folder / ".registry.lock"
    else:
        path = Path(tempfile.gettempdir()) / f"mnistsum-registry-{hashlib.sha256(uri.encode()).hexdigest()[:16]}.lock"
    with FileLock(str(path), timeout=timeout):
        yield


def dataset_input(split: str, source: str | Path, x: Any, y: Any, digest: str, name: str = "") -> Any:
    """One MLflow dataset input: the arrays a run saw (schema and shape), the pair file's content digest,
    and the split as its context, so the UI's Dataset column says what each run trained or was scored on."""
    from mlflow.data.numpy_dataset import from_numpy
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    with warnings.catch_warnings():
        # A local path matches MLflow's local-artifact source twice over; it warns, then picks that one.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        ds = from_numpy(x, targets=y, source=str(source), name=name or f"pairs-{split}", digest=digest[:32])
    return DatasetInput(ds._to_mlflow_entity(), [InputTag(MLFLOW_DATASET_CONTEXT, split)])


def pair_inputs(data_dir: str | Path, ids: Mapping[str, str], xy: Mapping[str, tuple[Any, Any]],
                subsets: Mapping[str, str] | None = None) -> list:
    """Dataset inputs for the splits in `xy` (split -> (x, y) as the run saw them). `ids` holds each pair
    file's sha256; a split in `subsets` (split -> description, e.g. "50% seed 42") was a seeded subset of
    its file, so its name and digest say so."""
    import hashlib

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


def run_exists(run_id: str) -> bool:
    try:
        configure().get_run(run_id)
        return True
    except mlflow.exceptions.MlflowException:
        return False
