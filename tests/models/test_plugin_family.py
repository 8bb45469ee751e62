"""A family is one module's work: a toy linear family, defined outside the package and plugged in through
`mnistsum.models.register`, goes through the stages' one train-evaluate-save-register path, and is pulled back
from the registry, with no change to stage code."""

import json

import mlflow
import numpy as np
import pytest
from linear_family import LinearSpec

from mnistsum import models, tracking
from mnistsum.data.splits import load_data
from mnistsum.params import FamilyStage, LearningCurve
from mnistsum.stages import family, learning_curve
from mnistsum.tracking.registry import champion


@pytest.fixture(scope="module")
def linear_registered():
    models.register(LinearSpec, "linear_family")
    yield
    models.MODULES.pop("linear"), models.specs.SPECS.pop("linear")


def test_a_plugged_in_family_trains_logs_registers_and_is_pulled(
    linear_registered, tiny_params, tiny_data_dir, mlflow_store, tmp_path
):
    spec = models.spec_from_dict({"family": "linear", "learning_rate": 0.02})
    section = FamilyStage(model=spec, max_epochs=2, patience=2, model_name="mnistsum-linear", regime="sums")
    paths = family.Paths(
        tiny_data_dir,
        tmp_path / "models" / "linear",
        tmp_path / "plots" / "linear",
        tmp_path / "metrics" / "linear.json",
    )
    summary = family.train_evaluate_register(
        "linear", spec, section, tiny_params, load_data(tiny_data_dir, 1.0, tiny_params.base.seed), paths
    )

    best = json.loads((paths.out / "best.json").read_text())
    assert best["family"] == "linear" and best["config"] == {"family": "linear", "learning_rate": 0.02}
    assert best["epochs_run"] == 2 and 0 <= best["test_accuracy"] <= 1 and best["patience"] == 2
    run = tracking.configure().get_run(summary["run_id"])
    assert run.data.tags["family"] == "linear" and "final_val_accuracy" in run.data.metrics
    figures = {f.path for f in tracking.configure().list_artifacts(summary["run_id"], "figures")}
    assert {"figures/linear_sum_confusion.png", "figures/linear_accuracy.png"} <= figures
    # Registered under its own name and the cross-family one, tagged with its family.
    assert champion("mnistsum-linear", "champion").tags["family"] == "linear"
    assert champion(tiny_params.base.best_model_name, "champion").tags["family"] == "linear"
    # The saved model loads through the interface, and the pulled pyfunc predicts what the saved model does.
    saved = models.load(paths.out / "model.keras")
    assert models.family_of(saved) == "linear"
    pairs = load_data(tiny_data_dir, 1.0, 0).pairs
    test = pairs["test"]
    pulled = mlflow.pyfunc.load_model("models:/mnistsum-linear@champion")
    expected = np.asarray(saved.predict(test.x.astype(np.float32), verbose=0)).argmax(1)
    assert np.array_equal(np.asarray(pulled.predict(test.x)), expected)
    # The learning curve takes it like any other family, from its stage result, in both regimes; at all pairs
    # its stage run stands for `sums` and the curve trains the `digits` point with the stage's recipe.
    curve = learning_curve.run(
        tiny_params.model_copy(
            update={
                "learning_curve": LearningCurve(
                    train_sizes=(100,),
                    families=("linear",),
                    regimes=("sums", "digits"),
                    full_size_regimes=("digits",),
                    min_steps=4,
                    max_epochs=2,
                    val_size=50,
                )
            }
        ),
        learning_curve.Paths(
            tiny_data_dir,
            (paths.out / "best.json",),
            tmp_path / "lc",
            tmp_path / "lc.json",
            tmp_path / "lc_summary.json",
            tmp_path / "lc.npz",
        ),
    )
    full = len(pairs["train"])
    assert [(p["family"], p["regime"], p["n"], bool(p.get("stage_run"))) for p in curve["points"]] == [
        ("linear", "sums", 100, False),
        ("linear", "digits", 100, False),
        ("linear", "digits", full, False),
        ("linear", "sums", full, True),
    ]
