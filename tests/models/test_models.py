"""The model families (mnistsum/models): one interface, raw-pixel input, and the sumnet learning digits from sums."""

import dataclasses
import inspect
import itertools
import os
import subprocess
import sys

import keras
import mlflow
import numpy as np
import pytest

from mnistsum import models, tracking, training
from mnistsum.cli import main as cli_main
from mnistsum.data.feed import training_arrays
from mnistsum.models import served, sumnet
from mnistsum.models.specs import CnnSpec, MlpSpec, SumnetSpec
from mnistsum.tracking.registry import log_and_register

# Big enough to learn digits in seconds on 2 cores, small enough for the suite.
QUICK_SUMNET = SumnetSpec(filters=(16, 32), convs_per_block=1, dense=64, dropout=0.0, learning_rate=0.003)
SPECS = [MlpSpec(units=(16,)), CnnSpec(filters=(4, 8), convs_per_block=1, dense=16), QUICK_SUMNET]


def test_the_convolution_is_the_brute_force_sum_and_a_distribution():
    rng = np.random.default_rng(0)
    p_top, p_bottom = rng.dirichlet(np.ones(10), size=64), rng.dirichlet(np.ones(10), size=64)
    brute = np.zeros((64, 19))
    for i, j in itertools.product(range(10), range(10)):
        brute[:, i + j] += p_top[:, i] * p_bottom[:, j]
    conv = keras.ops.convert_to_numpy(served.sum_distribution(p_top, p_bottom))
    np.testing.assert_allclose(conv, brute, atol=1e-12)
    np.testing.assert_allclose(conv.sum(axis=1), 1, atol=1e-12)
    # The layer the sumnet trains through is the same function, in float32.
    layer = served.digit_sum_layer()()
    out = keras.ops.convert_to_numpy(layer(p_top.astype(np.float32), p_bottom.astype(np.float32)))
    np.testing.assert_allclose(out, brute, atol=1e-6)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.family)
def test_every_family_takes_raw_pixels_and_round_trips(spec, tiny_splits, tmp_path):
    model = models.build(spec)
    assert tuple(model.inputs[0].shape[1:]) == (56, 28) and models.family_of(model) == spec.family
    x = tiny_splits["test"].x[:6]
    proba = training.predict_proba(model, x)
    assert proba.shape == (6, 19)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(training.predict_proba(models.load(tmp_path / "m.keras"), x), proba, atol=1e-6)
    emb = models.embeddings(model, tiny_splits["test"].head(6))
    ((name, e),) = emb.items()
    assert len(e.points) == len(e.labels) == (12 if spec.family == "sumnet" else 6)
    assert e.label_name == ("digit" if spec.family == "sumnet" else "sum")


def test_training_takes_no_digit_labels(tiny_splits, test_seed):
    """What training receives in the sums regime has no digit labels, and scrambling the hidden digit labels in
    the pair files changes nothing: the weights come out bit-identical."""
    assert "digit" not in " ".join(inspect.signature(training.train).parameters)
    pairs = {k: tiny_splits[k] for k in ("train", "val", "test")}
    data = training_arrays(pairs, "sums")
    assert data.train_pairs is None
    assert not any("label" in f.name for f in dataclasses.fields(data))
    rng = np.random.default_rng(0)
    scrambled = {
        k: dataclasses.replace(p, top_label=rng.permutation(p.top_label), bottom_label=rng.permutation(p.bottom_label))
        for k, p in pairs.items()
    }
    a, b = (
        training.train(QUICK_SUMNET, training_arrays(ps, "sums"), epochs=1, batch_size=64, seed=test_seed).model
        for ps in (pairs, scrambled)
    )
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


@pytest.fixture(scope="module")
def learned_sumnet(mnist, test_seed):
    """A sumnet trained for a few epochs on 4,000 pairs, from their sums alone."""
    from mnistsum.data.pairs import build_dataset

    splits = build_dataset(mnist, 5000, 1000, 0.2, seed=test_seed)
    result = training.train(
        QUICK_SUMNET, training_arrays(splits, "sums"), epochs=5, batch_size=64, seed=test_seed, schedule="cosine"
    )
    return result, splits


def test_sumnet_learns_the_digits_from_the_sums(learned_sumnet):
    result, splits = learned_sumnet
    test = splits["test"]
    digits = sumnet.digit_accuracy(result.model, test.x, test.top_label, test.bottom_label)
    print("digit accuracy", digits, "sum accuracy", result.test_accuracy)
    # Chance is 0.1 for a digit (and about 0.1 for the most common sum); it names most digits right.
    assert digits > 0.8
    assert result.test_accuracy > 0.6


def test_pulled_sumnet_gives_sums_and_digits_without_mnistsum(learned_sumnet, mlflow_store, tmp_path, capsys):
    result, splits = learned_sumnet
    val, test = splits["val"], splits["test"]
    with tracking.start_run("nn", "sumnet", stage="sumnet", regime="sums") as run:
        log_and_register(
            result.model,
            run.info.run_id,
            ["mnistsum-sumnet", "mnistsum"],
            "champion",
            result.val_accuracy,
            val_x=val.x,
            val_y=val.y,
            data_ids={"train": "t" * 64, "val": "v" * 64, "test": "x" * 64},
            params={},
            family="sumnet",
            regime="sums",
        )
    x = test.x[:8]
    model = mlflow.pyfunc.load_model("models:/mnistsum@champion")
    sums = model.predict(x)
    table = model.predict(x, params={"digits": True})
    assert sums.shape == (8,) and list(table.columns) == [
        "sum",
        "sum_probability",
        "top",
        "top_probability",
        "bottom",
        "bottom_probability",
    ]
    assert np.array_equal(table["sum"].to_numpy(), sums)
    p_sum, p_top, p_bottom = model.unwrap_python_model().predict_digits(x)
    assert p_sum.shape == (8, 19) and p_top.shape == p_bottom.shape == (8, 10)
    # `mnistsum predict` (default: the cross-family champion) shows the sum and both digits with probabilities.
    np.savez(tmp_path / "batch.npz", x=x)
    cli_main(["predict", str(tmp_path / "batch.npz")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 8
    for line, row in zip(lines, table.itertuples()):
        assert f"sum {row.sum:2d}" in line and f"digits {row.top} ({row.top_probability:.3f}) + {row.bottom} (" in line
    np.save(tmp_path / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKED, mlflow_store, str(tmp_path / "x.npy")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got_sums, got_top, got_bottom = proc.stdout.strip().splitlines()
    assert got_sums.split() == [str(v) for v in sums]
    assert got_top.split() == [str(v) for v in table["top"]] and got_bottom.split() == [str(v) for v in table["bottom"]]


BLOCKED = """
import sys
sys.modules["mnistsum"] = None  # importing mnistsum now raises
import numpy as np, mlflow
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model("models:/mnistsum-sumnet@champion")
x = np.load(sys.argv[2])
print(" ".join(map(str, model.predict(x))))
table = model.predict(x, params={"digits": True})
print(" ".join(map(str, table["top"])))
print(" ".join(map(str, table["bottom"])))
"""


def test_a_model_without_digits_says_so(tiny_splits):
    wrapper = served.SumModel()
    wrapper.keras_model, wrapper.digit_model = models.build(MlpSpec(units=(8,))), None
    with pytest.raises(served.DigitsUnavailable, match="only the sumnet"):
        wrapper.predict(None, tiny_splits["test"].x[:2], params={"digits": True})


def test_specs_reject_unknown_keys_and_families():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        models.spec_from_dict({"family": "sumnet", "filterz": [8]})
    with pytest.raises(ValidationError):
        models.spec_from_dict({"family": "transformer"})
    assert models.spec_from_dict(QUICK_SUMNET.to_dict()) == QUICK_SUMNET
