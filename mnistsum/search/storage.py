"""Where Optuna studies live, and how several workers share one.

By default a study is an Optuna journal file on local disk: a plain `dvc repro` is one worker and needs nothing
else. A SQLAlchemy URL (`postgresql+psycopg://user:secret@host/db`) in MNISTSUM_OPTUNA_STORAGE (or
`base.optuna_storage`) selects Optuna's RDBStorage instead, so workers on several machines share the study:

- crashed workers are handled the way Optuna provides: a heartbeat, a grace period, and a retry of the stale
  trial (RetryHeartbeatStaleTrialCallback). On the journal file, which has no heartbeat, a RUNNING trial is
  retried only when the process that owns it (host, pid, start time) is gone from this machine;
- the study stops at `n_trials` complete or pruned trials across all workers: a trial that would go past the
  cap is failed before it trains (tagged `surplus`), and the worker stops;
- each worker seeds its sampler from the base seed and its worker id (worker 0, the DVC stage, samples
  exactly as a single process always has).

The URL's password never reaches a log, a run or an out: `masked` is the only form ever printed.

A process killed mid-write leaves a torn last line in a journal file; Optuna would glue the next write to it and
never read the file again. Every write here drops a torn tail first, under the journal's own lock (no live writer
can be mid-write then), and a journal already corrupt inside is refused with the one command that repairs it.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.storages import JournalStorage
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import get_lock_file
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from mnistsum.errors import InputError
from mnistsum.tracking.orphans import process_alive

ENV = "MNISTSUM_OPTUNA_STORAGE"
OWNER_ATTR = "mnistsum.process"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def storage_url(param: str | None = None) -> str | None:
    """The RDB URL to use, or None for the journal file. The environment wins: secrets belong there."""
    return os.environ.get(ENV) or param or None


def masked(url: str) -> str:
    """The URL with its password replaced by ***, for every message and tag."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even parseable: show the scheme only
        return url.split("://", 1)[0] + "://***"


def _engine_kwargs(url: str) -> dict:
    # Fail within seconds when the database does not answer, instead of the driver's long default.
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": 5}}
    if url.startswith("mysql"):
        return {"connect_args": {"connect_timeout": 5}}
    return {}


def check_database(url: str) -> None:
    """Connect once, so a wrong URL or a database that does not answer fails at once with one line."""
    try:
        engine = sqlalchemy.create_engine(url, **_engine_kwargs(url))
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # driver errors differ by database; all of them mean "cannot use this URL"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = reason.replace(url, masked(url))
        password = _password(url)
        if password:
            reason = reason.replace(password, "***")
        raise InputError(
            f"Optuna storage {masked(url)} ({ENV}): cannot connect: {reason[:300]}; check that the "
            "database server runs and the URL's host, port, user, password and database"
        ) from None


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except Exception:
        return None


class JournalFile(JournalFileBackend):
    """Optuna's journal file, whose every write first drops a torn tail a killed writer left."""

    def append_logs(self, logs: list[dict]) -> None:
        with get_lock_file(self._lock):
            drop_torn_tail(Path(self._file_path))
        super().append_logs(logs)


def drop_torn_tail(path: Path) -> int:
    """Cut a last line that has no newline (a write that never finished); returns the bytes dropped."""
    with open(path, "rb+") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        f.truncate(keep)
    print(f"note: {path}: dropped a torn last record ({len(data) - keep} bytes) a killed process left", file=sys.stderr)
    return len(data) - keep


def check_journal(path: Path) -> None:
    """Refuse a journal with a line that is not a record (an old torn write glued to the next one), naming the
    command that cuts the file back to its last good record; a torn last line alone is dropped on the next write."""
    if not path.is_file():
        return
    offset = 0
    with open(path, "rb") as f:
        lines = f.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.endswith(b"\n") and number == len(lines):
            return
        try:
            json.loads(line)
        except ValueError:
            later = len(lines) - number
            raise InputError(
                f"{path}: line {number} is not a journal record (a torn write); `truncate -s {offset} {path}` keeps "
                f"the {number - 1} records before it and drops it and the {later} after it (their trials run again)"
            ) from None
        offset += len(line)


def make_storage(url: str | None, journal_path: Path, heartbeat_seconds: int = 30) -> optuna.storages.BaseStorage:
    if url is None:
        journal_path.parent.mkdir(parents=True, exist_ok=True)
        check_journal(journal_path)
        return JournalStorage(JournalFile(str(journal_path)))
    check_database(url)
    for attempt in range(10):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: experimental
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=_engine_kwargs(url),
                    heartbeat_interval=heartbeat_seconds,
                    grace_period=2 * heartbeat_seconds,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
                )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # Workers starting together on an empty database race to create Optuna's tables; the loser
            # finds them made a moment later.
            if attempt == 9:
                raise
            time.sleep(0.5 + attempt * 0.5)


def sampler_seed(seed: int, worker_id: int) -> int:
    """Worker 0 keeps the base seed (so a single worker is as reproducible as ever); others differ."""
    return seed + 7919 * worker_id


def has_heartbeat(study: optuna.Study) -> bool:
    return is_heartbeat_enabled(study._storage)


def retry_dead_owners(study: optuna.Study) -> list[int]:
    """Journal storage only (no heartbeat): fail and re-queue each RUNNING trial whose owning process is gone
    from this machine. Trials of live processes, or of processes on other machines, are left alone."""
    retried = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get(OWNER_ATTR)
        if owner is None or process_alive(owner) is False:
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            retried.append(t.number)
    return retried


def recover(study: optuna.Study) -> None:
    """Fail (and retry) trials whose worker died, the way the storage supports."""
    if has_heartbeat(study):
        optuna.storages.fail_stale_trials(study)
    else:
        retry_dead_owners(study)


def counts(study: optuna.Study) -> dict[str, int]:
    trials = study.get_trials(deepcopy=False)
    return {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}


def is_surplus(study: optuna.Study, trial: optuna.Trial, n_trials: int) -> bool:
    """Would this trial go past the cap? Finished trials, plus running ones numbered before it, already take
    `n_trials` places. Trial numbers are unique and ordered, so concurrent workers agree on who is surplus."""
    taken = 0
    for t in study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING)):
        if t.state in FINISHED or t.number < trial.number:
            taken += 1
    return taken >= n_trials


def wait_until_finished(study: optuna.Study, n_trials: int, run_more, poll_seconds: float = 2.0, log=print) -> None:
    """Block until the study holds `n_trials` finished trials, recovering crashed workers' trials meanwhile.
    `run_more()` is called whenever a place is free (a retried trial waiting, or a trial that failed)."""
    last = None
    while True:
        recover(study)
        c = counts(study)
        finished = c["complete"] + c["pruned"]
        if finished >= n_trials:
            return
        if c["waiting"] or finished + c["running"] < n_trials:
            run_more()
            continue
        if (finished, c["running"]) != last:
            log(f"waiting for {c['running']} trial(s) of other workers ({finished}/{n_trials} finished)")
            last = (finished, c["running"])
        time.sleep(poll_seconds)
