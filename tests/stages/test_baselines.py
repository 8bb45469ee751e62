import csv
import json

import numpy as np
import pytest
from conftest import REPO, with_section
from sklearn.linear_model import LogisticRegression

from mnistsum import tracking
from mnistsum.engines import engine_of, estimator
from mnistsum.errors import InputError
from mnistsum.params import load_params
from mnistsum.stages import forest, logreg, svm
from mnistsum.stages.forest import choose_depth, overfitting_depths
from mnistsum.stages.grid import Paths, Point, fit_point, load_data, point_key, run_grid


def _outs(data_dir, tmp_path, name):
    return Paths(
        data_dir,
        tmp_path / f"{name}.csv",
        tmp_path / f"{name}.json",
        tmp_path / f"{name}.metrics.json",
        tmp_path / "plots",
    )


def _children(stage):
    parent = tracking.configure().search_runs(
        [tracking.experiment_id("baselines")], filter_string=f"attributes.run_name = '{stage}'"
    )[0]
    return parent, tracking.child_runs(parent.info.run_id)


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_depth_rule():
    rows = [
        {"max_depth": d, "train_accuracy": t, "val_accuracy": 0.5, "test_accuracy": 0.0}
        for d, t in [(1, 0.5), (2, 0.55), (3, 0.65), (4, 0.7)]
    ]
    assert overfitting_depths(rows, 0.1) == [3, 4]
    assert choose_depth(rows, 0.1) == 2
    assert choose_depth(rows[:2], 0.1) == 2  # never overfits: deepest
    sparse = [rows[0], rows[3]]  # depths 1 and 4 only: 4 overfits, so 1
    assert choose_depth(sparse, 0.1) == 1


def test_logreg_grid(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    p = tiny_params.logreg
    summary = logreg.run(tiny_params, _outs(tiny_data_dir, tmp_path, "logreg"))
    n_points = 1 + len(p.solvers) * len(p.C) + len(p.max_iters)
    assert summary["n_points"] == n_points
    rows = _rows(tmp_path / "logreg.csv")
    assert len(rows) == n_points and {r["part"] for r in rows} == {"default", "grid", "max_iter"}
    parent, kids = _children("logreg")
    assert len(kids) == n_points
    assert {k.data.tags["converged"] for k in kids} <= {"true", "false"}
    assert all("n_iter" in k.data.metrics and "fit_seconds" in k.data.metrics for k in kids)
    assert "solver=sag C=0.1" in {k.info.run_name for k in kids}
    # The sweep's point at the grid's iterations is the grid's pick: logged as its twin, its numbers the pick's own
    assert p.grid_max_iter in p.max_iters
    pick = next(r for r in rows if r["label"] == summary["chosen"])
    again = next(r for r in rows if r["part"] == "max_iter" and int(r["max_iter"]) == p.grid_max_iter)
    measured = ("train_accuracy", "val_accuracy", "test_accuracy", "fit_seconds", "n_iter")
    assert [again[k] for k in measured] == [pick[k] for k in measured]
    tags = {k.info.run_name: k.data.tags for k in kids}
    assert tags[again["label"]]["same_fit_as"] == pick["label"] and "same_fit_as" not in tags[pick["label"]]
    metrics = json.loads((tmp_path / "logreg.metrics.json").read_text())
    assert metrics["chosen"] == f"solver={summary['best_solver']} C={summary['best_C']:g}"
    assert (tmp_path / "logreg.md").read_text().count("\n|") == n_points + 2  # header, separator, one row per point


def test_svm_flags_overfitting(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    p = tiny_params.svm
    svm.run(tiny_params, _outs(tiny_data_dir, tmp_path, "svm"))
    rows = _rows(tmp_path / "svm.csv")
    assert len(rows) == 1 + len(p.kernels) * len(p.gammas) * len(p.C)
    for r in rows:
        gap = float(r["train_accuracy"]) - float(r["val_accuracy"])
        assert r["overfit"] == str(gap > p.overfit_gap)
    assert len(_children("svm")[1]) == len(rows)


def test_the_svm_default_points_gamma_is_a_setting(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    """svm.default_gamma reaches the default point's estimator (its row, its child run), the grid keeps its own."""
    params = with_section(tiny_params, "svm", default_gamma="auto", kernels=("rbf",), gammas=("scale",), C=(1,))
    svm.run(params, _outs(tiny_data_dir, tmp_path, "svm"))
    rows = _rows(tmp_path / "svm.csv")
    assert [(r["part"], r["gamma"]) for r in rows] == [("default", "auto"), ("grid", "scale")]
    kids = {k.data.tags["part"]: k.data.params for k in _children("svm")[1]}
    assert kids["default"]["gamma"] == "auto" and kids["grid"]["gamma"] == "scale"


def test_forest_choice_follows_logged_numbers(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    p = tiny_params.forest
    summary = forest.run(tiny_params, _outs(tiny_data_dir, tmp_path, "forest"))
    parent, kids = _children("forest")
    assert len(kids) == 1 + len(p.max_depths) + len(p.tuned_depths) * len(p.min_samples_split) * len(p.min_samples_leaf)
    logged = [
        {"max_depth": int(k.data.params["max_depth"]), **k.data.metrics} for k in kids if k.data.tags["part"] == "depth"
    ]
    assert summary["chosen_depth"] == choose_depth(logged, p.overfit_gap)
    assert parent.data.metrics["chosen_depth"] == summary["chosen_depth"]
    # The headline says it is the rule's pick on the grid's pairs, with the default point beside it.
    metrics = json.loads((tmp_path / "forest.metrics.json").read_text())
    at = next(r for r in logged if r["max_depth"] == summary["chosen_depth"])
    assert (
        metrics["chosen"] == f"max_depth={summary['chosen_depth']}" and metrics["test_accuracy"] == at["test_accuracy"]
    )
    default = next(k for k in kids if k.data.tags["part"] == "default").data.metrics
    assert metrics["default_val_accuracy"] == default["val_accuracy"]
    assert metrics["default_test_accuracy"] == default["test_accuracy"]
    assert metrics["train_pairs"] == summary["train_pairs"] and metrics["default_train_pairs"] > 0
    assert (tmp_path / "plots" / "forest_depth.png").is_file() and (tmp_path / "plots" / "forest_tuned.png").is_file()


def test_every_point_logs_its_pairs_as_datasets(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    forest.run(tiny_params, _outs(tiny_data_dir, tmp_path, "forest"))
    for kid in _children("forest")[1]:
        contexts = {d.tags[0].value: d.dataset.digest for d in kid.inputs.dataset_inputs}
        assert set(contexts) == {"train", "val", "test"} and all(len(v) == 32 for v in contexts.values())


def test_test_labels_choose_nothing(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    """Shuffling only the test labels leaves the forest depth, the SVM flags and pick, and the logreg pick alone."""
    from mnistsum.data.pairs import load_pairs, save_pairs

    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for split in ("train", "val", "test"):
        pairs = load_pairs(tiny_data_dir / f"{split}.npz")
        if split == "test":
            pairs = pairs.take(slice(None))
            object.__setattr__(pairs, "y", np.random.default_rng(1).permutation(pairs.y))
        save_pairs(shuffled / f"{split}.npz", pairs)
    choices = []
    for data_dir, name in ((tiny_data_dir, "a"), (shuffled, "b")):
        f = forest.run(tiny_params, _outs(data_dir, tmp_path / name, "forest"))
        s = svm.run(tiny_params, _outs(data_dir, tmp_path / name, "svm"))
        lr = logreg.run(tiny_params, _outs(data_dir, tmp_path / name, "logreg"))
        flags = [r["overfit"] for r in _rows(tmp_path / name / "svm.csv")]
        choices.append(
            (
                f["chosen_depth"],
                f["overfitting_depths"],
                s["best_label"],
                s["best_non_overfit_label"],
                flags,
                lr["best_solver"],
                lr["best_C"],
            )
        )
        test_acc = f["chosen_test_accuracy"]
    assert choices[0] == choices[1]
    assert test_acc < 0.5  # the shuffled labels really were different


def test_the_engine_param_chooses_who_fits_and_the_runs_say_so(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    """svm.engine: onedal fits every point with scikit-learn-intelex's SVC (stock stays available), and every
    child run's `engine` tag and the parent's params say which; an unknown engine is refused by the params."""
    pytest.importorskip("sklearnex", reason="oneDAL ships for x86-64 only")
    assert engine_of(estimator("SVC", "stock")()) == "stock"
    assert estimator("SVC", "onedal").__module__.startswith("sklearnex")
    fast = with_section(tiny_params, "svm", engine="onedal")
    svm.run(fast, _outs(tiny_data_dir, tmp_path, "svm"))
    parent, kids = _children("svm")
    assert parent.data.params["svm.engine"] == "onedal"
    assert {k.data.tags["engine"] for k in kids} == {"onedal"} and len(kids) > 1
    stock_rows = _rows(tmp_path / "svm.csv")
    svm.run(with_section(tiny_params, "svm", engine="stock"), _outs(tiny_data_dir, tmp_path / "stock", "svm"))
    stock = _rows(tmp_path / "stock" / "svm.csv")
    assert {k.data.tags["engine"] for k in tracking.child_runs(_children("svm")[0].info.run_id)} == {"stock"}
    # The same grid either way, and the same answers to within a few pairs (each library's own solver).
    onedal_acc = {r["label"]: float(r["val_accuracy"]) for r in stock_rows}
    stock_acc = {r["label"]: float(r["val_accuracy"]) for r in stock}
    assert onedal_acc.keys() == stock_acc.keys()
    assert max(abs(onedal_acc[k] - stock_acc[k]) for k in stock_acc) <= 0.05, (onedal_acc, stock_acc)
    overlay = tmp_path / "mkl.yaml"
    overlay.write_text("svm:\n  engine: mkl\n")
    with pytest.raises(InputError, match="svm.engine"):
        load_params(REPO / "params.yaml", profile=overlay)


FITTED: list[float] = []


class _Counted(LogisticRegression):
    """Logistic regression that notes each fit (the grid fits in this process with n_jobs=1)."""

    def fit(self, X, y, sample_weight=None):
        FITTED.append(self.C)
        return super().fit(X, y, sample_weight)


def _make(**kw):
    return _Counted(max_iter=20, **kw)


def test_a_grid_stopped_midway_resumes_with_the_points_it_had_fitted(mlflow_store, tiny_data_dir):
    """A stage killed after two of three points: its re-run fits only the third and takes the two (the same rows)
    from the stopped run, each logged under the new parent with where it came from; after a finished run, a re-run
    fits everything afresh."""
    data = load_data(tiny_data_dir, 0.5, 0)
    points = [Point("grid", f"C={c:g}", {"C": c}) for c in (0.1, 1.0, 10.0)]
    FITTED.clear()
    with (
        pytest.raises(KeyboardInterrupt),
        tracking.start_run("baselines", "resumable", stage="resumable", regime="sums") as first,
    ):
        stopped = run_grid(_make, points[:2], data, first.info.run_id, "resumable", 1, 100)
        raise KeyboardInterrupt  # the stage is stopped before its last point
    assert FITTED == [0.1, 1.0]
    with tracking.start_run("baselines", "resumable", stage="resumable", regime="sums") as second:
        rows = run_grid(_make, points, data, second.info.run_id, "resumable", 1, 100)
    assert FITTED == [0.1, 1.0, 10.0]  # only the missing point
    assert rows[:2] == stopped and [r["label"] for r in rows] == ["C=0.1", "C=1", "C=10"]
    kids = {k.info.run_name: k for k in tracking.child_runs(second.info.run_id)}
    assert sorted(kids) == ["C=0.1", "C=1", "C=10"]
    earlier = {k.info.run_name: k.info.run_id for k in tracking.child_runs(first.info.run_id)}
    assert kids["C=0.1"].data.tags["reused_from"] == earlier["C=0.1"] and "reused_from" not in kids["C=10"].data.tags
    assert kids["C=1"].data.metrics["val_accuracy"] == stopped[1]["val_accuracy"]
    with tracking.start_run("baselines", "resumable", stage="resumable", regime="sums") as third:
        run_grid(_make, points, data, third.info.run_id, "resumable", 1, 100)
    assert FITTED == [0.1, 1.0, 10.0, 0.1, 1.0, 10.0]  # the previous run finished: nothing reused
    other = Point("grid", "C=0.1", {"C": 0.1})
    assert point_key("resumable", _make, other, "a", 100) != point_key("resumable", _make, other, "b", 100)
    assert point_key("resumable", _make, other, "a", 100) != point_key("resumable", _make, other, "a", 50)


def test_the_pool_fits_the_costliest_first_and_a_point_on_its_own_pairs(mlflow_store, tiny_data_dir):
    """`longest` orders the fits, not the rows; a point given its own data (the report's default point on its
    larger share) fits and is scored on it, its key and its logged datasets say so."""
    grid_data, own = load_data(tiny_data_dir, 0.25, 0), load_data(tiny_data_dir, 1.0, 0)
    points = [Point("default", "C=1", {"C": 1.0}, data=own)] + [
        Point("grid", f"C={c:g}", {"C": c}) for c in (0.1, 10.0, 100.0)
    ]
    FITTED.clear()
    with tracking.start_run("baselines", "pooled", stage="pooled", regime="sums") as parent:
        rows = run_grid(_make, points, grid_data, parent.info.run_id, "pooled", 1, 10, longest=lambda p: p.params["C"])
    assert FITTED == [100.0, 10.0, 1.0, 0.1]
    assert [r["label"] for r in rows] == ["C=1", "C=0.1", "C=10", "C=100"]
    alone = fit_point(_make, Point("default", "C=1", {"C": 1.0}), own, 10)
    assert {k: rows[0][k] for k in ("val_accuracy", "test_accuracy")} == {
        k: alone[k] for k in ("val_accuracy", "test_accuracy")
    }
    kids = {k.info.run_name: k for k in tracking.child_runs(parent.info.run_id)}
    trained_on = {
        name: next(d.dataset.digest for d in kid.inputs.dataset_inputs if d.tags[0].value == "train")
        for name, kid in kids.items()
    }
    assert trained_on["C=1"] != trained_on["C=10"] == trained_on["C=0.1"]


def test_points_that_are_one_fit_are_fitted_once_and_each_logged_under_its_own_label(mlflow_store, tiny_data_dir):
    """`C=1` and `C=1 fit_intercept=True` (the estimator's own default) are one fit: fitted once, both rows and
    runs kept, the twin tagged with the point it shares; a point whose fit differs is fitted. Resumed, a twin whose
    fit came back with the stopped run is not fitted again."""
    data = load_data(tiny_data_dir, 0.5, 0)
    points = [
        Point("grid", "C=1", {"C": 1.0}),
        Point("grid", "C=10", {"C": 10.0}),
        Point("tuned", "C=1 fit_intercept=True", {"C": 1.0, "fit_intercept": True}),
    ]
    FITTED.clear()
    with tracking.start_run("baselines", "twins", stage="twins", regime="sums") as parent:
        rows = run_grid(_make, points, data, parent.info.run_id, "twins", 1, 100)
    assert FITTED == [1.0, 10.0]
    assert [(r["part"], r["label"]) for r in rows] == [
        ("grid", "C=1"),
        ("grid", "C=10"),
        ("tuned", "C=1 fit_intercept=True"),
    ]
    measured = ("train_accuracy", "val_accuracy", "test_accuracy", "fit_seconds", "n_iter")
    assert {k: rows[2][k] for k in measured} == {k: rows[0][k] for k in measured}
    assert rows[2]["fit_intercept"] is True and "fit_intercept" not in rows[0]
    kids = {k.info.run_name: k for k in tracking.child_runs(parent.info.run_id)}
    assert (
        kids["C=1 fit_intercept=True"].data.tags["same_fit_as"] == "C=1" and "same_fit_as" not in kids["C=1"].data.tags
    )
    assert kids["C=1 fit_intercept=True"].data.params["fit_intercept"] == "True"
    assert kids["C=1 fit_intercept=True"].data.metrics["val_accuracy"] == kids["C=1"].data.metrics["val_accuracy"]

    FITTED.clear()
    with (
        pytest.raises(KeyboardInterrupt),
        tracking.start_run("baselines", "resumed", stage="resumed", regime="sums") as first,
    ):
        run_grid(_make, points[:1], data, first.info.run_id, "resumed", 1, 100)
        raise KeyboardInterrupt
    with tracking.start_run("baselines", "resumed", stage="resumed", regime="sums") as second:
        again = run_grid(_make, points, data, second.info.run_id, "resumed", 1, 100)
    assert FITTED == [1.0, 10.0]  # C=1 once, before the stop; its twin from it; C=10 fitted
    assert [r["label"] for r in again] == ["C=1", "C=10", "C=1 fit_intercept=True"]
    assert again[2]["val_accuracy"] == again[0]["val_accuracy"]
