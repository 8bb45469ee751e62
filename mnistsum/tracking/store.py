"""Where runs go: the tracking URI and its checks, the local store (re-rooted when moved), the experiments.

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
import sqlite3
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

import mlflow  # noqa: E402
import requests  # noqa: E402
import sqlalchemy  # noqa: E402
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
    "benchmarks": "benchmarks",  # runs of benchmarks/ scripts (by hand, outside the pipeline)
}


# MLflow 3's UI opens experiments without this tag in its GenAI (traces) view; this one shows the runs table.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def sqlite_dir(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :]).parent


# Stores this project runs on: a SQLite file, a tracking server, or a database MLflow supports.
SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql")


def check_uri(uri: str) -> None:
    """Refuse, in one line, a tracking URI MLflow cannot use here, before anything is written."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme == "file" or (not scheme and uri):
        raise InputError(
            f"MLFLOW_TRACKING_URI={uri!r}: plain file stores are off in MLflow 3; "
            f"use sqlite:///path/mlflow.db or http(s)://server"
        )
    if scheme not in SCHEMES:
        raise InputError(
            f"MLFLOW_TRACKING_URI={uri!r}: unsupported scheme {scheme!r}; expected one of "
            f"{', '.join(s + ':' for s in SCHEMES)}"
        )
    if scheme == "sqlite" and not uri.startswith("sqlite:///"):
        raise InputError(f"MLFLOW_TRACKING_URI={uri!r}: expected sqlite:///relative/path.db or sqlite:////abs/path.db")


def without_secret(uri: str) -> str:
    """The URI with any user:password@ part removed, for messages."""
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
            answer = requests.get(uri.rstrip("/") + "/health", timeout=5)
            if answer.status_code != 200:
                raise OSError(f"/health answered HTTP {answer.status_code}")
        elif scheme in ("postgresql", "mysql", "mssql"):
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
        raise InputError(
            f"MLflow {what} {shown} (MLFLOW_TRACKING_URI) does not answer: {reason[:200]}; check "
            "that it runs and that host and port are right"
        ) from None


def _secret(uri: str) -> str | None:
    return urlsplit(uri).password


# Where MLflow 3's SQL store writes absolute artifact paths; the tests scan every table for any other.
ARTIFACT_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
)


def _local_path(location: str | None) -> str | None:
    """The filesystem path of a file: URI or plain path; None for anything else (s3:, mlflow-artifacts:...)."""
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


LOCK_WAIT_S = 15  # how long opening the store waits for another process's write (SQLite's busy timeout)


def locked(db_path: Path) -> InputError:
    return InputError(
        f"the MLflow store {db_path} is locked by another process (waited {LOCK_WAIT_S} s): try again when it finishes"
    )


def check_writable(db_path: Path) -> None:
    """A writer finds out before its work, not at its first metric (in a traceback MLflow logs whole): one
    write, rolled back, tells a read-only store (its file or its folder, where the journal goes) and a locked one."""
    try:
        with contextlib.closing(sqlite3.connect(db_path, timeout=LOCK_WAIT_S, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("CREATE TABLE mnistsum_write_probe (x)")
            db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        if "locked" in str(exc):
            raise locked(db_path) from None
        raise InputError(
            f"the MLflow store {db_path} cannot be written ({exc}): make it and its folder writable, or copy it"
        ) from None


@functools.cache
def relocate_store(db_path: Path) -> int:
    """Re-root the artifact paths of a SQLite store that was moved or copied, at the store's own folder.

    A no-op (one small read) where nothing moved; otherwise one transaction, so concurrent openers agree.
    Returns how many values were rewritten."""
    folder = db_path.parent.resolve()

    def moved_from(db) -> list[str]:
        return sorted(r for r in _recorded_roots(db) - {str(folder)} if not _same_folder(r, folder))

    changed, old_roots = 0, []
    try:
        with contextlib.closing(sqlite3.connect(db_path, timeout=LOCK_WAIT_S, isolation_level=None)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "experiments" not in tables or not moved_from(db):
                return 0
            db.execute("BEGIN IMMEDIATE")
            old_roots = moved_from(db)  # again under the write lock: another process may have re-rooted it
            for old in old_roots:
                # Each spelling MLflow uses: a plain path, file:// + path, and the percent-encoded file URI.
                forms = {
                    (old, str(folder)),
                    ("file://" + old, "file://" + str(folder)),
                    (Path(old).as_uri(), folder.as_uri()),
                }
                for table, column in ARTIFACT_COLUMNS:
                    if table not in tables:
                        continue
                    for before, after in forms:
                        changed += db.execute(
                            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                            f"WHERE substr({column}, 1, ?) = ? AND "
                            f"(length({column}) = ? OR substr({column}, ?, 1) = '/')",
                            (after, len(before) + 1, len(before), before, len(before), len(before) + 1),
                        ).rowcount
            db.execute("COMMIT")
    except sqlite3.Error as exc:  # a read-only copy, say: its runs still read, its artifacts point elsewhere
        if "locked" in str(exc):  # every later step would wait as long again, then fail in a traceback
            raise locked(db_path) from None
        print(
            f"note: the MLflow store {db_path} could not be checked for a move (its artifact paths re-rooted): {exc}",
            file=sys.stderr,
        )
        return 0
    if changed:
        print(
            f"note: the MLflow store {db_path} moved from {', '.join(old_roots)}: re-rooted {changed} "
            f"artifact paths at {folder}",
            file=sys.stderr,
        )
    return changed


def absolute_uri(uri: str) -> str:
    """A SQLite URI with its path made absolute (as another process in another folder must see it)."""
    if not uri.startswith("sqlite:///"):
        return uri
    return "sqlite:///" + str(Path(uri[len("sqlite:///") :]).resolve())


def configure(read_only: bool = False) -> MlflowClient:
    """Point MLflow at the project's store and return a client.

    Writers create a SQLite store's folder; readers (predict, runs diff, report) never create a store: a
    missing SQLite file is an error naming the URI, so a typo cannot silently start an empty store."""
    uri = tracking_uri()
    check_uri(uri)
    folder = sqlite_dir(uri)
    if folder is not None:
        db_path = Path(uri[len("sqlite:///") :])
        if read_only and not db_path.is_file():
            where = "MLFLOW_TRACKING_URI" if os.environ.get("MLFLOW_TRACKING_URI") else "the default store"
            raise InputError(
                f"no MLflow store at {db_path.resolve()} ({where}, {uri}): run this from the mnistsum "
                "folder after dvc repro, or point MLFLOW_TRACKING_URI at its store "
                "(sqlite:////path/to/mnistsum/mlruns/mlflow.db)"
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the MLflow store folder for {uri}: {exc.strerror}") from None
        if db_path.is_file():
            relocate_store(db_path.resolve())
            if not read_only:
                check_writable(db_path)
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
    folder = sqlite_dir(tracking_uri())
    # A local store keeps artifacts beside the database; a server decides for itself.
    location = (folder / name).resolve().as_uri() if folder is not None else None
    try:
        return client.create_experiment(name, artifact_location=location, tags={KIND_TAG: KIND})
    except mlflow.exceptions.MlflowException:  # created meanwhile by another process
        return client.get_experiment_by_name(name).experiment_id
