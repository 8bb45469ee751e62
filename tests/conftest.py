"""Session-scoped tiny fixtures over the real parts: real MNIST, real SQLite MLflow stores, real Optuna journals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

from mnistsum.data.mnist import load_mnist  # noqa: E402
from mnistsum.data.pairs import build_dataset, save_pairs  # noqa: E402
from mnistsum.params import load_params, materialise  # noqa: E402
from mnistsum.stages import family as family_stage  # noqa: E402
from mnistsum.stages import learning_curve  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Tests that assert how well something trains must hold for any seed: MNISTSUM_TEST_SEED=7 make test checks one.
TEST_SEED = int(os.environ.get("MNISTSUM_TEST_SEED", "42"))


# The tests that start the heavy real parts: PostgreSQL, an `mlflow server`, a served model's page, a browser.
# They and the end-to-end `dvc repro` (tests/test_pipeline.py) are marked slow: `make quick` leaves them out,
# `make test` (CI) runs everything.
SLOW_FIXTURES = {"postgres", "tracking_server", "cluster", "page_url", "browser"}


# `make test` runs the suite on two workers, a test file to each at a time. The end-to-end file is the longest by
# far (its tiny `dvc repro` alone takes about 4 minutes): collected first, it starts at once, beside the rest,
# instead of last and alone.
FIRST = ("test_pipeline.py",)


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.path.name not in FIRST)


@pytest.fixture(scope="session")
def test_seed():
    return TEST_SEED


@pytest.fixture(scope="session")
def mnist():
    return load_mnist()


TINY = REPO / "profiles" / "tiny.yaml"


@pytest.fixture(scope="session")
def tiny_params():
    return load_params(REPO / "params.yaml", TINY)


@pytest.fixture(scope="session")
def tiny_params_file(tmp_path_factory):
    """The tiny profile materialised into a complete params file, as `mnistsum params profiles/tiny.yaml` does."""
    path = tmp_path_factory.mktemp("params") / "params.yaml"
    materialise(TINY, REPO / "params.yaml", path)
    return path


@pytest.fixture(scope="session")
def tiny_splits(mnist):
    return build_dataset(mnist, train_pairs=1000, test_pairs=300, val_fraction=0.2, seed=TEST_SEED)


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory, tiny_splits):
    folder = tmp_path_factory.mktemp("pairs")
    for name, pairs in tiny_splits.items():
        save_pairs(folder / f"{name}.npz", pairs)
    return folder


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    """A fresh SQLite tracking store in tmp_path; artifacts land beside it."""
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def with_section(params, name: str, **changes):
    """params with some keys of one section replaced (the models are frozen)."""
    section = getattr(params, name).model_copy(update=changes)
    return params.model_copy(update={name: section})


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real PostgreSQL cluster on a loopback port for the whole session, stopped afterwards."""
    from mnistsum.services import start_postgres

    pg = start_postgres(tmp_path_factory.mktemp("postgres"))
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def tracking_server(postgres, tmp_path_factory):
    """A real `mlflow server` on PostgreSQL with proxied artifacts, on loopback."""
    from mnistsum.services import start_tracking_server

    server = start_tracking_server(postgres.create_database("mlflow"), tmp_path_factory.mktemp("artifacts"))
    yield server
    server.stop()


# Stage outputs other stages read, made once per session on the tiny profile: the cnn and sumnet stages, then the
# learning curve from their results (and an MLP stage result), all in one store.
@pytest.fixture(scope="session")
def stage_runs(tiny_params, tiny_data_dir, tmp_path_factory):
    """The cnn and sumnet stages on the tiny profile, into one store: (root, {stage: Paths}, store URI)."""
    root = tmp_path_factory.mktemp("family")
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    outs = {}
    for stage in ("cnn", "sumnet"):
        outs[stage] = family_stage.Paths(
            tiny_data_dir, root / "models" / stage, root / "plots" / stage, root / "metrics" / f"{stage}.json"
        )
        family_stage.run(tiny_params, outs[stage], stage)
    yield root, outs, uri
    mp.undo()


@pytest.fixture(scope="session")
def curve_run(stage_runs, tiny_params, tiny_data_dir):
    """The learning curve from the two stages' results and an MLP stage result in the `digits` regime (as the
    final trains by default): (its Paths, its return value, store URI)."""
    root, outs, uri = stage_runs
    final = root / "models" / "final" / "best.json"
    final.parent.mkdir(parents=True)
    final.write_text(
        json.dumps(
            {
                "config": {"family": "mlp", "units": [16]},
                "family": "mlp",
                "regime": "digits",
                "val_accuracy": 0.2,
                "test_accuracy": 0.2,
                "run_id": "r",
                "patience": 2,
                "max_epochs": 2,
                "schedule": "constant",
                "epochs_run": 2,
                "seconds_per_epoch": 1.0,
            }
        )
    )
    paths = learning_curve.Paths(
        tiny_data_dir,
        (final, outs["cnn"].out / "best.json", outs["sumnet"].out / "best.json"),
        root / "plots" / "learning_curve",
        root / "metrics" / "learning_curve.json",
        root / "results" / "learning_curve.json",
        root / "results" / "learning_curve_probabilities.npz",
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    out = learning_curve.run(tiny_params, paths)
    mp.undo()
    return paths, out, uri
