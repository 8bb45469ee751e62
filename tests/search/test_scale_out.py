"""Many workers on one Optuna study over a real PostgreSQL, logging to a real `mlflow server` on loopback."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from mnistsum.services import free_port
from mnistsum.tracking import STUDY_PARENT_TAG

REPO = Path(__file__).resolve().parents[2]
WORKER = """
import sys
from pathlib import Path
from mnistsum.params import load_params
from mnistsum.search.study import run_study
params, data, storage, worker = sys.argv[1:5]
run_study("study1", load_params(params), Path(data), None, Path(storage), None, None, None,
          worker_id=int(worker), wait=False)
"""


def _params(tmp_path, tiny_params_path, **study1) -> Path:
    raw = yaml.safe_load(Path(tiny_params_path).read_text())
    raw["base"]["heartbeat_seconds"] = 2
    raw["study1"].update(study1)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def cluster(postgres, tracking_server, tmp_path, request):
    """A fresh Optuna database and a fresh MLflow experiment namespace (the store is shared)."""
    db = postgres.create_database(f"optuna_{request.node.name[:40].lower()}_{os.getpid()}")
    env = {
        **os.environ,
        "MNISTSUM_OPTUNA_STORAGE": db,
        "MLFLOW_TRACKING_URI": tracking_server.uri,
        "PYTHONPATH": str(REPO),
    }
    return db, env


def _stage(params, data_dir, out, env, **kwargs):
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "pipelines" / "study.py"),
            "study1",
            "--params",
            str(params),
            "--data",
            str(data_dir),
            "--storage",
            str(out / "unused.log"),
            "--out",
            str(out / "study1.json"),
            "--plots",
            str(out / "plots"),
            "--metrics",
            str(out / "metrics.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        **kwargs,
    )


def _worker(params, data_dir, out, env, worker_id):
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(params), str(data_dir), str(out / "unused.log"), str(worker_id)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _study(db, out):
    name = json.loads((out / "study1.json").read_text())["study_name"]
    return optuna.load_study(study_name=name, storage=db)


def _runs(uri, study_name):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("nn-studies").experiment_id
    parents = client.search_runs([exp], filter_string=f"tags.`{STUDY_PARENT_TAG}` = '{study_name}'")
    children = client.search_runs([exp], filter_string=f"tags.`optuna.study` = '{study_name}'", max_results=1000)
    return parents, children


def test_two_workers_share_one_study_exactly(cluster, tiny_data_dir, tiny_params_file, tmp_path, tracking_server):
    db, env = cluster
    params = _params(tmp_path, tiny_params_file, n_trials=4, epochs=2)
    out = tmp_path / "out"
    other = _worker(params, tiny_data_dir, out, env, worker_id=1)
    stage = _stage(params, tiny_data_dir, out, env)
    other_log = other.communicate(timeout=900)[0]
    assert stage.returncode == 0, stage.stderr[-3000:]
    assert other.returncode == 0, other_log[-3000:]
    study = _study(db, out)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 4 and len({t.number for t in study.trials}) == len(study.trials)
    assert all(t.user_attrs.get("surplus") for t in study.trials if t.state == TrialState.FAIL)
    # Both workers trained trials, and their samplers differ: no two trials share their parameters.
    owners = {t.user_attrs["mnistsum.process"] for t in finished}
    assert len(owners) == 2, owners
    assert len({json.dumps(t.params, sort_keys=True) for t in finished}) == 4
    parents, children = _runs(tracking_server.uri, study.study_name)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert json.loads((out / "study1.json").read_text())["n_trials"] == 4

    # Running the stage again runs nothing new and writes the same outs.
    before = (out / "study1.json").read_bytes()
    again = _stage(params, tiny_data_dir, out, env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "4/4 trials finished" in again.stdout
    assert (out / "study1.json").read_bytes() == before
    assert len(_study(db, out).trials) == len(study.trials)
    assert len(_runs(tracking_server.uri, study.study_name)[1]) == 4


def test_a_killed_worker_s_trial_is_retried(cluster, tiny_data_dir, tiny_params_file, tmp_path, tracking_server):
    db, env = cluster
    params = _params(tmp_path, tiny_params_file, n_trials=3, epochs=25, pruner_startup_trials=10)
    out = tmp_path / "out"
    victim = _worker(params, tiny_data_dir, out, env, worker_id=1)
    deadline, killed = time.time() + 300, None
    while time.time() < deadline and killed is None:
        time.sleep(1)
        names = optuna.study.get_all_study_names(db)
        if names:
            running = optuna.load_study(study_name=names[0], storage=db).get_trials(states=(TrialState.RUNNING,))
            if running and "mnistsum.process" in running[0].user_attrs:
                time.sleep(2)  # well inside its training
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                killed = running[0].number
    assert killed is not None, victim.communicate()[0][-3000:]
    stage = _stage(params, tiny_data_dir, out, env)
    assert stage.returncode == 0, stage.stderr[-3000:]
    study = _study(db, out)
    states = {t.number: t.state for t in study.trials}
    assert states[killed] == TrialState.FAIL
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 3
    retried = [
        t for t in finished if optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed
    ]
    assert len(retried) == 1 and retried[0].params == study.trials[killed].params
    parents, children = _runs(tracking_server.uri, study.study_name)
    assert len(parents) == 1
    assert not [c for c in children if c.info.status == "RUNNING"]
    assert sum(c.info.status == "FINISHED" for c in children) == 3
    assert [c.info.status for c in children if c.data.tags["optuna.trial"] == str(killed)] == ["KILLED"]


def test_unreachable_database_or_server_fails_fast_in_one_line(
    tiny_data_dir, tiny_params_file, tmp_path, tracking_server
):
    params = _params(tmp_path, tiny_params_file)
    out = tmp_path / "out"
    closed = free_port()
    cases = [
        (
            {
                "MNISTSUM_OPTUNA_STORAGE": f"postgresql+psycopg://mnistsum:sekret@127.0.0.1:{closed}/optuna",
                "MLFLOW_TRACKING_URI": tracking_server.uri,
            },
            "Optuna storage",
        ),
        ({"MLFLOW_TRACKING_URI": f"http://user:sekret@127.0.0.1:{closed}"}, "MLflow tracking server"),
    ]
    for extra, what in cases:
        env = {**os.environ, "PYTHONPATH": str(REPO), **extra}
        proc = _stage(params, tiny_data_dir, out, env)
        # One line of ours (TensorFlow's own start-up banner may precede it).
        lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        assert lines[0].startswith(f"error: {what}") and f"127.0.0.1:{closed}" in lines[0]
        assert "sekret" not in proc.stderr + proc.stdout
        # That line is the up-front reachability check's (store.check_reachable), so MLflow's and Optuna's minutes
        # of retries never started; a hang would end in _stage's timeout instead.
        assert not out.exists()
    # The predicting command too.
    np_file = tmp_path / "x.npz"
    np.savez(np_file, x=np.eye(56, 28, dtype=np.uint8)[None] * 255)  # something to read: the check is the server
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{closed}"}
    proc = subprocess.run(
        [sys.executable, "-m", "mnistsum.cli", "predict", str(np_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "does not answer" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, (
        proc.stderr
    )
