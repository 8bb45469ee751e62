import json
import os
import re
import signal
import socket
import subprocess
import sys

import optuna
import psutil
import yaml
from conftest import REPO, with_section
from mlflow.tracking import MlflowClient

from mnistsum import models, tracking, training
from mnistsum.data.splits import load_data
from mnistsum.models.specs import MlpSpec
from mnistsum.params import load_params
from mnistsum.search import storage as study_storage
from mnistsum.search.study import finished_trials, open_study, run_study, study_name
from mnistsum.stages import base_mlp


def test_base_logs_history_per_epoch(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    summary = base_mlp.run(tiny_params, base_mlp.Paths(tiny_data_dir, tmp_path / "base", tmp_path / "m.json"))
    history = json.loads((tmp_path / "base" / "history.json").read_text())
    assert set(history) >= {"accuracy", "val_accuracy", "test_accuracy", "loss", "val_loss", "test_loss"}
    assert len(history["test_accuracy"]) == tiny_params.base_mlp.epochs
    steps = MlflowClient(mlflow_store).get_metric_history(summary["run_id"], "test_accuracy")
    assert [m.step for m in steps] == list(range(tiny_params.base_mlp.epochs))


def test_study_children_history_and_resume(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    params = with_section(tiny_params, "study1", n_trials=2, epochs=2)
    storage = tmp_path / "optuna" / "study1.log"
    out = tmp_path / "study1.json"
    first = run_study("study1", params, tiny_data_dir, None, storage, out, tmp_path / "plots")
    assert first["n_trials"] == 2 and json.loads(out.read_text())["config"]["units"]
    client = MlflowClient(mlflow_store)
    parents = client.search_runs(
        [tracking.experiment_id("nn")], filter_string=f"tags.`{tracking.STUDY_PARENT_TAG}` = '{first['study_name']}'"
    )
    assert len(parents) == 1 and parents[0].info.run_name == "study1" and parents[0].info.status == "FINISHED"
    parent_id = parents[0].info.run_id
    kids = tracking.child_runs(parent_id)
    assert [k.info.run_name.split(" (pruned")[0] for k in kids] == ["study1/trial-000", "study1/trial-001"]
    for kid in kids:  # a pruned trial says so in its name, with the epoch it stopped at
        assert (kid.data.tags["trial_state"] == "PRUNED") == ("(pruned at epoch " in kid.info.run_name)
    for kid in kids:
        contexts = {d.tags[0].value: d.dataset for d in kid.inputs.dataset_inputs}
        assert set(contexts) == {"train", "val", "test"} and all(len(d.digest) == 32 for d in contexts.values())
        epochs_run = int(kid.data.metrics["epochs_run"])
        assert len(client.get_metric_history(kid.info.run_id, "val_accuracy")) == epochs_run
        assert kid.data.tags["trial_state"] in ("COMPLETE", "PRUNED") and kid.info.status == "FINISHED"
    # Asking for 2 more trials resumes the same study and parent run, and runs exactly 2 new trials.
    more = with_section(params, "study1", n_trials=4)
    second = run_study("study1", more, tiny_data_dir, None, storage, out, tmp_path / "plots")
    assert second["study_name"] == first["study_name"] and second["n_trials"] == 4
    names = [k.info.run_name.split(" (pruned")[0] for k in tracking.child_runs(parent_id)]
    assert names == [f"study1/trial-{i:03d}" for i in range(4)]
    parent = client.get_run(parent_id)
    assert parent.data.metrics["n_trials"] == 4 and "best.n_layers" in parent.data.tags
    artifacts = {a.path for a in client.list_artifacts(parent_id, "figures")}
    assert "figures/study1_optimization_history.png" in artifacts


def test_only_a_dead_process_s_trial_is_rerun(tiny_params, tmp_path):
    """On the journal file (no heartbeat), a RUNNING trial is retried only when its owning process is gone:
    a live worker's trial is left alone."""
    storage = study_storage.make_storage(None, tmp_path / "s.log")
    study = open_study(storage, "s", tiny_params.study2, 42)
    dead, live = study.ask(), study.ask()
    dead.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    dead.set_user_attr(study_storage.OWNER_ATTR, f"{socket.gethostname()}:999999999:1.0")  # no such process
    live.set_user_attr(study_storage.OWNER_ATTR, tracking.this_process())
    reopened = open_study(storage, "s", tiny_params.study2, 42)
    study_storage.recover(reopened)
    states = [t.state for t in reopened.trials]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING]
    assert reopened.trials[2].system_attrs["fixed_params"] == dead.params and not finished_trials(reopened)


def test_study_name_ignores_only_n_trials(tiny_params, monkeypatch):
    a = study_name("study2", tiny_params.study2, None, "d", 42, 128)
    assert a == study_name("study2", tiny_params.study2.model_copy(update={"n_trials": 9}), None, "d", 42, 128)
    assert a != study_name("study2", tiny_params.study2.model_copy(update={"epochs": 9}), None, "d", 42, 128)
    assert a != study_name("study2", tiny_params.study2, None, "other-data", 42, 128)
    assert a != study_name("study2", tiny_params.study2, None, "d", 42, 256)
    monkeypatch.setattr(training, "code_digest", lambda family: "changed network code")
    assert a != study_name("study2", tiny_params.study2, None, "d", 42, 128)


def test_new_batch_size_trains_new_trials(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    """DVC re-runs the stage after `-S base.batch_size=...`; the study must then train, not reuse old trials."""
    params = with_section(tiny_params, "study1", n_trials=1, epochs=1)
    storage, out = tmp_path / "study1.log", tmp_path / "study1.json"
    first = run_study("study1", params, tiny_data_dir, None, storage, out, tmp_path / "plots")
    again = run_study("study1", params, tiny_data_dir, None, storage, out, tmp_path / "plots")
    assert again["study_name"] == first["study_name"]  # same inputs: nothing new to train
    bigger = params.model_copy(update={"base": params.base.model_copy(update={"batch_size": 64})})
    second = run_study("study1", bigger, tiny_data_dir, None, storage, out, tmp_path / "plots")
    assert second["study_name"] != first["study_name"] and second["run_id"] != first["run_id"]
    kids = tracking.child_runs(second["run_id"])
    assert len(kids) == 1 and kids[0].data.params["config.units"]  # one trial trained for the new study
    assert len(MlflowClient(mlflow_store).get_metric_history(kids[0].info.run_id, "loss")) == 1


def test_sigkill_mid_trial_leaves_no_running_run(mlflow_store, tiny_data_dir, tiny_params_file, tmp_path):
    """A study stage killed mid-trial and run again: no MLflow run stays RUNNING, and the study ends with
    exactly n_trials finished trials, each with one finished child run (the killed one is closed as KILLED)."""
    raw = yaml.safe_load(tiny_params_file.read_text())
    raw["study1"].update(n_trials=2, epochs=40)
    raw["base"]["local_workers"] = 1  # one process: the counts below are one worker's (local workers: next test)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    storage = tmp_path / "optuna" / "study1.log"
    cmd = [
        sys.executable,
        "-u",
        str(REPO / "pipelines" / "study.py"),
        "study1",
        "--params",
        str(params),
        "--data",
        str(tiny_data_dir),
        "--storage",
        str(storage),
        "--out",
        str(tmp_path / "study1.json"),
        "--plots",
        str(tmp_path / "plots"),
        "--metrics",
        str(tmp_path / "metrics.json"),
    ]
    env = os.environ | {"MLFLOW_TRACKING_URI": mlflow_store, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "study1/trial-001 epoch 3/" in line:  # trial 0 finished, trial 1 under way
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen[-20:])
    client = MlflowClient(mlflow_store)
    running = client.search_runs([tracking.experiment_id("nn")], filter_string="attributes.status = 'RUNNING'")
    assert len(running) == 2  # the parent and the killed trial, left behind
    assert not (tmp_path / "study1.json").exists()  # no half-written out

    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "closed 1 run(s) left RUNNING" in done.stdout  # the killed trial; the parent is resumed and closed
    runs = client.search_runs([tracking.experiment_id("nn")])
    assert not [r for r in runs if r.info.status == "RUNNING"]
    summary = json.loads((tmp_path / "study1.json").read_text())
    assert summary["n_trials"] == 2
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (
        metrics["n_trials"] == 2 and metrics["n_failed"] == 1 and list(metrics)[:2] == ["val_accuracy", "test_accuracy"]
    )
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.info.status for r in kids) == ["FINISHED", "FINISHED", "KILLED"]
    killed = next(r for r in kids if r.info.status == "KILLED")
    assert killed.data.tags["trial_state"] == "FAIL" and killed.info.end_time
    study = optuna.load_study(
        study_name=summary["study_name"],
        storage=open_study(
            study_storage.make_storage(None, storage), summary["study_name"], load_params(params).study1, 42
        )._storage,
    )
    states = sorted(t.state.name for t in study.trials)
    assert states.count("FAIL") == 1 and len(finished_trials(study)) == 2
    assert {r.data.tags["optuna.trial"] for r in kids} == {str(t.number) for t in study.trials}


def test_a_pruned_trial_says_so_in_its_run_name(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    """The runs table shows every finished run with the same tick: a pruned trial's name says it was pruned.
    Trial 0 learns at a usable rate; the next two at 1e-6 stay near chance, so the median pruner stops them."""
    params = with_section(tiny_params, "study2", n_trials=3, epochs=3, pruner_startup_trials=1, pruner_warmup_epochs=1)
    previous = tmp_path / "activation.json"
    previous.write_text(json.dumps({"config": MlpSpec(units=(64,), batch_norm=True).to_dict()}))
    seed, batch = params.base.seed, params.base.batch_size
    name = study_name(
        "study2",
        params.study2,
        models.read_spec(previous),
        load_data(tiny_data_dir, params.study2.train_fraction, seed).identity,
        seed,
        batch,
    )
    storage = tmp_path / "study2.log"
    study = open_study(study_storage.make_storage(None, storage), name, params.study2, seed)
    for lr in (1e-2, 1e-6, 1e-6):
        study.enqueue_trial({"learning_rate": lr})
    summary = run_study(
        "study2", params, tiny_data_dir, previous, storage, tmp_path / "study2.json", tmp_path / "plots"
    )
    kids = tracking.child_runs(summary["run_id"])
    pruned = [k for k in kids if k.data.tags["trial_state"] == "PRUNED"]
    assert summary["n_pruned"] == len(pruned) >= 1, [(k.info.run_name, k.data.metrics) for k in kids]
    for kid in kids:
        epochs = int(kid.data.metrics["epochs_run"])
        expected = f"study2/trial-{kid.data.tags['optuna.trial'].zfill(3)}"
        if kid in pruned:
            expected += f" (pruned at epoch {epochs})"
        assert kid.info.run_name == expected


def test_local_workers_share_a_study_to_exactly_its_cap_and_resume_it(
    mlflow_store, tiny_params, tiny_data_dir, tmp_path, capfd
):
    """base.local_workers: 2 starts one more worker process on the same study: together they finish exactly
    n_trials (no surplus trial counted, no number skipped), and a larger cap resumes the same study."""
    params = with_section(tiny_params, "study1", n_trials=6, epochs=2)
    params = params.model_copy(update={"base": params.base.model_copy(update={"local_workers": 2})})
    storage, out = tmp_path / "optuna" / "study1.log", tmp_path / "study1.json"
    first = run_study("study1", params, tiny_data_dir, None, storage, out, tmp_path / "plots")
    assert first["n_trials"] == 6
    # The helper ran, and stopped once every place was taken (the last may still be training in this worker).
    done = re.search(
        r"study1: worker 1 done; (\d)/6 trials finished(, 1 still running in other workers)?\n", capfd.readouterr().out
    )
    assert done and (done[1] == "6") != bool(done[2]), done
    kids = tracking.child_runs(first["run_id"])
    assert sorted(k.info.run_name.split(" (pruned")[0] for k in kids) == [f"study1/trial-{i:03d}" for i in range(6)]
    assert {k.data.params["worker_id"] for k in kids} <= {"0", "1"}
    more = with_section(params, "study1", n_trials=8)
    second = run_study("study1", more, tiny_data_dir, None, storage, out, tmp_path / "plots")
    assert second["study_name"] == first["study_name"] and second["n_trials"] == 8
    names = sorted(k.info.run_name.split(" (pruned")[0] for k in tracking.child_runs(first["run_id"]))
    # One run for each of the 8 finished trials; a surplus trial of the first round (the helper asking while the
    # last place was still training here) holds a number of its own, failed and never counted, so it may be skipped.
    study = optuna.load_study(study_name=second["study_name"], storage=study_storage.make_storage(None, storage, 30))
    finished = [t.number for t in finished_trials(study)]
    assert len(finished) == 8 and names == [f"study1/trial-{i:03d}" for i in finished]
    skipped = set(range(max(finished) + 1)) - set(finished)
    assert all(study.trials[i].user_attrs.get("surplus") for i in skipped), skipped


def test_a_killed_study_stage_takes_its_local_workers_with_it(mlflow_store, tiny_data_dir, tiny_params_file, tmp_path):
    """kill -9 of a study stage with base.local_workers: 2 leaves no worker process training on (the kernel ends
    it with its parent), and the re-run finishes the study at exactly its cap."""
    raw = yaml.safe_load(tiny_params_file.read_text())
    raw["study1"].update(n_trials=3, epochs=40)
    raw["base"]["local_workers"] = 2
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    cmd = [sys.executable, "-u", str(REPO / "pipelines" / "study.py"), "study1", "--params", str(params)]
    cmd += ["--data", str(tiny_data_dir), "--storage", str(tmp_path / "optuna" / "study1.log")]
    cmd += ["--out", str(tmp_path / "study1.json"), "--plots", str(tmp_path / "plots")]
    cmd += ["--metrics", str(tmp_path / "metrics.json")]
    env = os.environ | {"MLFLOW_TRACKING_URI": mlflow_store, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "(worker 1)" in line:  # the local worker has joined the study
            break
    helpers = psutil.Process(proc.pid).children(recursive=True)
    assert helpers, "".join(seen[-20:])
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    gone, alive = psutil.wait_procs(helpers, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads((tmp_path / "study1.json").read_text())["n_trials"] == 3
    client = MlflowClient(mlflow_store)
    assert not client.search_runs([tracking.experiment_id("nn")], filter_string="attributes.status = 'RUNNING'")


def test_a_surplus_trial_leaves_no_traceback_on_the_log():
    """Two workers racing for a study's last place: the loser's trial is bookkeeping, not an error to print.
    In a process of its own, as a stage's worker is (Optuna's log handler holds the stderr it started with)."""
    script = (
        "import optuna\n"
        "from mnistsum.search.study import SurplusTrial\n"
        "def objective(trial):\n"
        "    raise SurplusTrial(f'trial {trial.number}: the study already has 50 trials')\n"
        "study = optuna.create_study()\n"
        "study.optimize(objective, n_trials=1, catch=(SurplusTrial,))\n"
        "assert study.trials[0].state == optuna.trial.TrialState.FAIL\n"
        "optuna.logging.get_logger('optuna.study._optimize').warning('Trial 1 failed with value 0.5.')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SurplusTrial" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "Trial 1 failed with value 0.5." in proc.stderr  # any other failure is still said
