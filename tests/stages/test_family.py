"""The family stages (cnn, sumnet, and a family plugged in from outside), the learning curve, and the one
cross-family name users pull."""

import json

import mlflow
import numpy as np
import pytest

from mnistsum import models, tracking
from mnistsum.models.specs import MlpSpec
from mnistsum.stages.learning_curve import Point, SmallBudget, expected_seconds, stage_recipe
from mnistsum.tracking.registry import champion, log_and_register


def test_both_stages_log_their_runs_and_register_their_models(stage_runs, monkeypatch):
    root, outs, uri = stage_runs
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = tracking.configure()
    for stage, name in (("cnn", "mnistsum-cnn"), ("sumnet", "mnistsum-sumnet")):
        best = json.loads((outs[stage].out / "best.json").read_text())
        run = client.get_run(best["run_id"])
        assert run.info.status == "FINISHED" and run.data.tags["family"] == stage
        assert run.data.tags["regime"] == "sums" == best["regime"]  # the given pairs' sums, nothing else
        assert run.data.tags["mlflow.runName"] == stage and run.data.tags["dvc.stage"] == stage
        history = {
            m: [x.value for x in client.get_metric_history(run.info.run_id, m)]
            for m in ("loss", "accuracy", "val_accuracy", "test_accuracy")
        }
        epochs = best["epochs_run"]
        assert all(len(v) == epochs for v in history.values()), history
        assert 0 <= run.data.metrics["test_ece"] <= 1
        figures = {f.path for f in client.list_artifacts(run.info.run_id, "figures")}
        assert f"figures/{stage}_sum_confusion.png" in figures and f"figures/{stage}_reliability.png" in figures
        assert int(champion(name, "champion").version) == 1
        assert (outs[stage].out / "model.keras").is_file()
        metrics = json.loads(outs[stage].metrics.read_text())
        assert list(metrics)[:3] == ["val_accuracy", "test_accuracy", "test_ece"] and "seconds" not in metrics
        assert metrics["regime"] == "sums"
    sumnet_run = client.get_run(json.loads((outs["sumnet"].out / "best.json").read_text())["run_id"])
    digits = client.get_metric_history(sumnet_run.info.run_id, "val_digit_accuracy")
    assert len(digits) == json.loads((outs["sumnet"].out / "best.json").read_text())["epochs_run"]
    assert "figures/sumnet_digit_confusion.png" in {
        f.path for f in client.list_artifacts(sumnet_run.info.run_id, "figures")
    }
    # Both registered under the one name users pull too; its champion is whichever was better on validation.
    versions = client.search_model_versions("name = 'mnistsum'")
    assert sorted(v.tags["family"] for v in versions) == ["cnn", "sumnet"]
    best_family = max(versions, key=lambda v: float(v.tags["val_accuracy"])).tags["family"]
    assert champion("mnistsum", "champion").tags["family"] == best_family


def test_learning_curve_runs_every_family_in_every_regime(curve_run, tiny_params, monkeypatch):
    paths, out, uri = curve_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    p = tiny_params.learning_curve
    full = max(pt["n"] for pt in out["points"])
    trained = sorted((pt["family"], pt["regime"], pt["n"]) for pt in out["points"] if not pt.get("stage_run"))
    small = [(f, r, n) for f in p.families for r in p.regimes for n in p.train_sizes]
    # At all pairs, each stage's run stands for its own regime; the curve trains the other regime's point.
    others = [("mlp", "sums", full), ("cnn", "digits", full), ("sumnet", "digits", full)]
    assert trained == sorted(small + others)
    stage_points = {(pt["family"], pt["regime"]) for pt in out["points"] if pt.get("stage_run")}
    assert stage_points == {("mlp", "digits"), ("cnn", "sums"), ("sumnet", "sums")}
    assert (paths.plots / "learning_curve.png").stat().st_size > 10_000
    client = tracking.configure()
    parent = client.get_run(out["run_id"])
    assert parent.data.tags["regime"] == "digits,sums" and parent.data.metrics["train_pairs"] == full
    children = tracking.child_runs(out["run_id"])
    assert sorted(k.info.run_name for k in children) == sorted(f"{f} {r} n={n}" for f, r, n in trained)
    assert all(k.data.tags["regime"] == k.info.run_name.split()[1] for k in children)
    # Every trained point's test probabilities are an output (compare reads the sumnet's).
    with np.load(paths.probabilities) as npz:
        assert sorted(npz.files) == sorted(f"{f}/{r}/{n}" for f, r, n in trained)
        assert all(npz[k].shape == (300, 19) for k in npz.files)
    # The DVC metrics: every point of the curve, regime -> family -> size, and the regimes they hold.
    metrics = json.loads(paths.metrics.read_text())
    assert metrics["regime"] == "digits,sums" and metrics["train_pairs"] == full
    assert set(metrics["sums"]) == set(metrics["digits"]) == {"mlp", "cnn", "sumnet"}
    sizes = sorted({*(min(n, full) for n in tiny_params.learning_curve.train_sizes), full})
    assert all(sorted(map(int, metrics[r][f])) == sizes for r in ("sums", "digits") for f in metrics["sums"])
    assert metrics["digits"]["mlp"][str(full)] == 0.2  # the final stage's own result, not retrained
    assert metrics["sums"]["cnn"][str(full)] == out["table"]["sums"]["cnn"][str(full)]


def _register(family: str, val: float, model, splits):
    with tracking.start_run("nn", family, stage=family, regime="sums") as run:
        v = splits["val"]
        return log_and_register(
            model,
            run.info.run_id,
            [f"mnistsum-{family}", "mnistsum"],
            "champion",
            val,
            val_x=v.x,
            val_y=v.y,
            data_ids={"train": "t" * 64, "val": "v" * 64, "test": "x" * 64},
            params={},
            family=family,
            regime="sums",
        )


def test_the_best_model_follows_the_best_family_and_only_moves_up(mlflow_store, tiny_splits):
    model = models.build(MlpSpec(units=(8,)))  # the decision reads the tags; any model will do
    steps = [
        ("mlp", 0.50, "mlp"),
        ("sumnet", 0.90, "sumnet"),
        ("cnn", 0.70, "sumnet"),
        ("mlp", 0.85, "sumnet"),
        ("cnn", 0.95, "cnn"),
    ]
    for family, val, expected in steps:
        own, best = _register(family, val, model, tiny_splits)
        assert own["name"] == f"mnistsum-{family}" and best["name"] == "mnistsum"
        holder = champion("mnistsum", "champion")
        assert holder.tags["family"] == expected, (family, val, best["alias_action"])
    # Each family keeps its own champion too.
    assert float(champion("mnistsum-mlp", "champion").tags["val_accuracy"]) == pytest.approx(0.85)
    assert float(champion("mnistsum-cnn", "champion").tags["val_accuracy"]) == pytest.approx(0.95)
    assert np.isclose(float(champion("mnistsum-sumnet", "champion").tags["val_accuracy"]), 0.90)
    # What `mnistsum predict` loads by default is that champion.
    assert mlflow.pyfunc.load_model("models:/mnistsum@champion").metadata.run_id == holder.tags["run_id"]


def test_a_small_set_gets_more_epochs_and_patience():
    budget = SmallBudget(min_steps=400, max_epochs=60, val_size=1000, patience=4)
    assert budget.epochs(1000, 128) == 50 and budget.epochs(48000, 128) == 2
    # Patience is 4 full-size epochs' worth of batches: 4 epochs at full size, 188 of 8-batch epochs at 1,000.
    assert budget.patience_epochs(48000, 48000, 128) == 4
    assert budget.patience_epochs(1000, 48000, 128) == 188


def test_the_curve_foresees_each_point_from_its_stage_rate_and_starts_the_longest():
    """The order the points are handed to the workers: the all-pairs point, trained with its stage's recipe for as
    many epochs as the stage ran, costs that stage's time; a small point its batches' share of an epoch."""
    spec, full = MlpSpec(units=(8,)), 48_000
    best = {"seconds_per_epoch": 3.0, "epochs_run": 36, "max_epochs": 100, "patience": 8, "schedule": "constant"}
    small = SmallBudget(min_steps=400, max_epochs=60, val_size=1000, patience=8)
    at = {
        n: Point(spec, "sums", n, stage_recipe(best, n, 128) if n == full else small, 128, 0, "p", 15)
        for n in (1000, 10_000, full)
    }
    assert expected_seconds(at[full], best, full) == pytest.approx(36 * 3.0)
    assert expected_seconds(at[1000], best, full) == pytest.approx(3.0 * 50 * 8 / 375)  # 400 batches
    assert expected_seconds(at[10_000], best, full) == pytest.approx(3.0 * 6 * 79 / 375)
    slow = best | {"seconds_per_epoch": 30.0}
    assert expected_seconds(at[1000], slow, full) > expected_seconds(at[1000], best, full)
