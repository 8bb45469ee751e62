"""A journal file a killed process tore: the torn record is dropped on the next write and the study goes on; a
journal already corrupt inside is refused with the command that repairs it (real Optuna studies, real files)."""

import re
import shlex
import subprocess

import optuna
import pytest

from mnistsum.errors import InputError
from mnistsum.search.storage import make_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(trial):
    return trial.suggest_float("x", 0, 1)


def _study(path):
    return optuna.create_study(study_name="s", storage=make_storage(None, path), load_if_exists=True)


def test_a_torn_last_record_is_dropped_and_the_study_goes_on(tmp_path, capfd):
    path = tmp_path / "study.log"
    _study(path).optimize(_objective, n_trials=3)
    good = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"op_code":4,"worker_id":"w","trial_id":')  # a process killed mid-write
    _study(path).optimize(_objective, n_trials=2)  # before: glued to the torn record, then unreadable for good
    assert path.read_bytes().startswith(good) and path.read_bytes().endswith(b"\n")
    assert [t.state for t in _study(path).trials] == [optuna.trial.TrialState.COMPLETE] * 5
    assert "dropped a torn last record (40 bytes) a killed process left" in capfd.readouterr().err


def test_a_journal_corrupt_inside_is_refused_with_the_command_that_repairs_it(tmp_path):
    path = tmp_path / "study.log"
    _study(path).optimize(_objective, n_trials=3)
    lines = path.read_bytes().splitlines(keepends=True)
    glued = lines[4].rstrip(b"\n")[:-10] + lines[5]  # an old torn write with the next record glued to it
    path.write_bytes(b"".join(lines[:4] + [glued] + lines[6:]))
    with pytest.raises(InputError) as exc:
        make_storage(None, path)
    message = str(exc.value)
    assert message.startswith(f"{path}: line 5 is not a journal record (a torn write)") and "\n" not in message
    subprocess.run(shlex.split(re.search(r"`(truncate -s \d+ \S+)`", message).group(1)), check=True)
    study = _study(path)  # the records before the bad line; the trials after it run again
    study.optimize(_objective, n_trials=3 - len([t for t in study.trials if t.state.is_finished()]))
    assert len([t for t in _study(path).trials if t.state == optuna.trial.TrialState.COMPLETE]) >= 3
