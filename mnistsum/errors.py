"""One exception type for bad input: the CLI and the stages turn it into a one-line message and exit 2.

A store that cannot be written (read-only files) or is held by another process (a SQLite lock) is not bad
input, but it is the user's to fix, not a bug: it gets one line too, naming the store, instead of MLflow's and
SQLAlchemy's tracebacks (hundreds of lines, the SQL statement among them)."""

from __future__ import annotations

import functools
import os
import sqlite3
import sys
from collections.abc import Callable

STORE_FAULTS = {
    "readonly database": "is read-only (SQLite: attempt to write a readonly database): make it writable, or copy it",
    "database is locked": "is locked by another process (SQLite: database is locked): try again when it finishes",
    "unable to open database file": "cannot be opened (SQLite: unable to open database file): check its folder",
}


class InputError(Exception):
    """A file, key, shape or name that is not what was expected; the message says which and what."""


def store_fault(exc: BaseException) -> str | None:
    """One line for an exception caused by the tracking store's SQLite file being read-only, locked or unopenable
    (anywhere in its chain of causes: MLflow wraps SQLAlchemy, which wraps sqlite3), or None."""
    seen: BaseException | None = exc
    texts = []
    while seen is not None and len(texts) < 20:
        texts.append(str(seen) if isinstance(seen, sqlite3.Error) else str(seen)[:2000])
        seen = seen.__cause__ or seen.__context__
    for text in texts:
        for sign, what in STORE_FAULTS.items():
            if sign in text:
                where = os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlruns/mlflow.db")
                return f"the MLflow store {where} {what}"
    return None


def exits_cleanly(main: Callable[..., None]) -> Callable[..., None]:
    """Run an entry point; bad input (or a store fault) becomes one line on stderr and exit status 2, not a
    traceback."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> None:
        try:
            main(*args, **kwargs)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        except Exception as exc:
            if (line := store_fault(exc)) is None:
                raise
            print(f"error: {line}", file=sys.stderr)
            sys.exit(2)

    return wrapper
