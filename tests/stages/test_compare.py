import itertools
import json

import numpy as np
import pytest
from conftest import with_section

from mnistsum import tracking, training
from mnistsum.errors import InputError
from mnistsum.stages import learning_curve
from mnistsum.stages.compare import Paths, deconstruct, fit_part, fit_sizes, run, sum_distribution


def test_convolution_is_the_brute_force_sum_distribution():
    rng = np.random.default_rng(0)
    p_top, p_bottom = rng.dirichlet(np.ones(10), size=50), rng.dirichlet(np.ones(10), size=50)
    conv = sum_distribution(p_top, p_bottom)
    brute = np.zeros((50, 19))
    for i, j in itertools.product(range(10), range(10)):
        brute[:, i + j] += p_top[:, i] * p_bottom[:, j]
    assert conv.shape == (50, 19)
    np.testing.assert_allclose(conv, brute, atol=1e-12)
    np.testing.assert_allclose(conv.sum(axis=1), 1, atol=1e-12)


def test_deconstruct_restacks_to_the_pairs(tiny_splits):
    pairs = tiny_splits["test"]
    x, y = deconstruct(pairs)
    n = len(pairs)
    top, bottom = (
        np.round(x[:n] * 255).astype(np.uint8).reshape(n, 28, 28),
        np.round(x[n:] * 255).astype(np.uint8).reshape(n, 28, 28),
    )
    assert np.array_equal(np.concatenate([top, bottom], axis=1), pairs.x)
    assert np.array_equal(y[:n] + y[n:], pairs.y)


def test_each_fit_is_its_own_job_and_its_numbers_do_not_depend_on_which_worker_runs_it(tiny_params, tiny_splits):
    """The stage fits each size's combined and sequential classifiers as separate jobs on `n_jobs` workers, the
    costliest first: the same results as fitting each size's two, one after the other, here (up to the last bits
    of the float32 probabilities: a worker's BLAS runs on its one core, this process's on all of them)."""
    p = with_section(tiny_params, "compare", max_iter=30, n_jobs=2).compare
    train, test = tiny_splits["train"], tiny_splits["test"]
    pooled = fit_sizes(train, test, [40, 160], p, seed=3)
    assert [r["n"] for r in pooled] == [40, 160]
    for r in pooled:
        alone = {
            part: fit_part(train.head(r["n"]), test, part, p.solver, p.C, p.max_iter, 3, p.engine)
            for part in ("combined", "sequential")
        }
        np.testing.assert_allclose(r["_proba"]["combined"], alone["combined"]["proba"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(r["_digits"], alone["sequential"]["proba"], rtol=1e-5, atol=1e-6)
        assert r["_digits"].shape == (2 * len(test), 10) and r["_proba"]["combined"].shape == (len(test), 19)
        assert r["converged_combined"] == alone["combined"]["converged"]


def test_stage_writes_one_child_per_size(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    params = with_section(tiny_params, "compare", train_sizes=(40, 160), max_iter=30, sumnet=False)
    out = run(params, Paths(tiny_data_dir, tmp_path / "plots", tmp_path / "metrics.json", tmp_path / "compare.json"))
    assert [r["n"] for r in out["sizes"]] == [40, 160]
    assert (tmp_path / "plots" / "compare_accuracy.png").stat().st_size > 10_000
    assert (tmp_path / "plots" / "compare_reliability.png").is_file()
    assert out["convolved_never_loses_log_loss"]
    for r in out["sizes"]:
        assert r["sequential_argmax"]["accuracy"] > r["combined"]["accuracy"]
    parent = tracking.configure().search_runs(
        [tracking.experiment_id("compare")], filter_string="attributes.run_name = 'compare'"
    )[0]
    children = tracking.child_runs(parent.info.run_id)
    assert sorted(k.info.run_name for k in children) == ["train_pairs=160", "train_pairs=40"]
    # Each compared model names what it trained on: the combined one sums, the sequential one digit labels.
    for run_ in (parent, *children):
        assert run_.data.tags["regime"] == "digit-labels,sums"
        assert run_.data.tags["regime.combined"] == "sums" and run_.data.tags["regime.sequential"] == "digit-labels"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["regime"] == {"combined": "sums", "sequential": "digit-labels"}


def test_the_sumnet_comes_from_the_learning_curve_never_trained_here(
    curve_run, tiny_params, tiny_data_dir, tmp_path, monkeypatch
):
    curve_paths, curve, uri = curve_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")

    def no_training(*args, **kwargs):
        raise AssertionError("compare trained a network")

    monkeypatch.setattr(training, "train", no_training)
    monkeypatch.setattr(learning_curve, "fit_at_size", no_training)
    # Past the training pairs a size is all of them, where the curve's sumnet point is the sumnet stage's own run.
    params = with_section(tiny_params, "compare", max_iter=30)
    params = with_section(params, "compare", train_sizes=(*params.compare.train_sizes, 10**9))
    full = max(pt["n"] for pt in curve["points"])
    sizes = [min(n, full) for n in params.compare.train_sizes]
    out = run(
        params,
        Paths(
            tiny_data_dir,
            tmp_path / "plots",
            tmp_path / "metrics.json",
            tmp_path / "compare.json",
            curve_paths.summary,
            curve_paths.probabilities,
        ),
    )
    points = {pt["n"]: pt for pt in curve["points"] if pt["family"] == "sumnet" and pt["regime"] == "sums"}
    by_size = {r["n"]: r for r in out["sizes"]}
    trained = {n for n, pt in points.items() if not pt.get("stage_run")}
    assert set(by_size) == set(sizes) and trained & set(sizes) == set(tiny_params.learning_curve.train_sizes)
    assert points[full]["stage_run"] and full in by_size
    for n, r in by_size.items():
        if n in trained:  # the learning curve's own numbers, to the digit
            assert r["sumnet"]["accuracy"] == pytest.approx(points[n]["test_accuracy"], abs=1e-6)
            assert r["sumnet_run_id"] == points[n]["run_id"]
        else:  # the curve did not train the sumnet at this size: no sumnet column, nothing trained
            assert "sumnet" not in r
    # The headline is the largest size's: all pairs, where no sumnet stands.
    assert "sumnet_test_accuracy" not in json.loads((tmp_path / "metrics.json").read_text())


def test_the_sumnet_needs_the_learning_curve(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    with pytest.raises(InputError, match="give the learning curve's --curve and --curve-probabilities"):
        run(tiny_params, Paths(tiny_data_dir, tmp_path / "plots", tmp_path / "m.json", tmp_path / "c.json"))
