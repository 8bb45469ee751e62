import itertools

import numpy as np
from conftest import with_section

from mnistsum import tracking
from mnistsum.stages.compare import Paths, deconstruct, run, sum_distribution


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


def test_stage_writes_one_child_per_size(mlflow_store, tiny_params, tiny_data_dir, tmp_path):
    params = with_section(tiny_params, "compare", train_sizes=(40, 160), max_iter=30)
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
    names = sorted(k.info.run_name for k in tracking.child_runs(parent.info.run_id))
    assert names == ["train_pairs=160", "train_pairs=40"]
