"""The report's sections, each read from real runs in a real SQLite MLflow store (the whole stage runs end to end
in test_pipeline.py)."""

import pytest
from mlflow.tracking import MlflowClient

from mnistsum import tracking
from mnistsum.errors import InputError
from mnistsum.files import write_json
from mnistsum.stages import report


@pytest.fixture
def store(mlflow_store, tmp_path):
    """Make runs as the stages do: a parent per stage (children optional), its run id in a summary file."""
    summaries = {}

    def stage(name, metrics, children=(), regime="sums", experiment="nn"):
        with tracking.start_run(experiment, name, stage=name, regime=regime) as run:
            tracking.log_metrics(run.info.run_id, metrics)
            for child, params, child_metrics in children:
                with tracking.start_run(
                    experiment, child, stage=name, params=params, parent_run_id=run.info.run_id, regime=regime
                ) as kid:
                    tracking.log_metrics(kid.info.run_id, child_metrics)
        summaries[name] = tmp_path / "summaries" / f"{name}.json"
        write_json(summaries[name], {"run_id": run.info.run_id})
        return MlflowClient().get_run(run.info.run_id)

    stage.summaries = summaries
    return stage


def test_the_networks_section_reads_each_stage_and_the_activation_children(store):
    runs = {
        s: store(s, {"final_val_accuracy": 0.5, "final_test_accuracy": 0.6}, regime="digits") for s in report.REPORT_NN
    }
    runs["activation"] = store(
        "activation",
        {},
        [(f"activation={a}", {}, {"final_val_accuracy": v, "final_test_accuracy": v + 0.01}) for a, v in
         (("relu", 0.8), ("tanh", 0.7))],
    )  # fmt: skip
    lines = "\n".join(report.nn_section(runs))
    assert f"| final | digits | 0.5000 | 0.6000 | 0.9300 | {runs['final'].info.run_id[:8]} |" in lines
    assert "| relu | 0.8000 | 0.8100 | 0.9079 |" in lines and "| tanh | 0.7000 | 0.7100 | 0.8688 |" in lines


def test_the_compare_and_tsne_sections_list_every_child_in_order(store):
    compare = store(
        "compare",
        {},
        [(f"n={n}", {"train_pairs": n}, {"combined.accuracy": a, "sequential_argmax.accuracy": 4 * a})
         for n, a in ((300, 0.2), (100, 0.1))],
    )  # fmt: skip
    tsne = store("tsne", {}, [("embedding", {}, {"knn_accuracy": 0.95, "trustworthiness": 0.9})], experiment="tsne")
    lines = report.compare_section({"compare": compare})
    rows = [line for line in lines if line.startswith("| 1") or line.startswith("| 3")]
    assert [r.split(" | ")[:3] for r in rows] == [["| 100", "0.1000", "0.4000"], ["| 300", "0.2000", "0.8000"]]
    assert "| embedding | 0.9500 | 0.9000 |" in report.tsne_section({"tsne": tsne})


def test_runs_are_found_by_the_ids_the_summaries_record(store, tmp_path):
    made = {s: store(s, {"final_test_accuracy": 0.1}) for s in report.STAGES}
    runs = report.read_runs(store.summaries)
    assert {s: r.info.run_id for s, r in runs.items()} == {s: r.info.run_id for s, r in made.items()}
    with pytest.raises(InputError, match=r"no summary file given for stages \['tsne'\]"):
        report.read_runs({s: p for s, p in store.summaries.items() if s != "tsne"})
    write_json(store.summaries["tsne"], {"run_id": "0" * 32})
    with pytest.raises(InputError, match="run 0{32} is not in the MLflow store"):
        report.read_runs(store.summaries)


def test_figures_are_copied_beside_the_report(tmp_path):
    plots = tmp_path / "plots"
    (plots / "forest").mkdir(parents=True)
    (plots / "forest" / "forest_depth.png").write_bytes(b"png")
    lines = report.figures_section(plots, tmp_path / "reports" / "report.md")
    assert "![forest_depth](figures/forest_depth.png)" in lines
    assert (tmp_path / "reports" / "figures" / "forest_depth.png").read_bytes() == b"png"


def test_a_grid_section_says_which_engine_fitted_it(mlflow_store):
    with tracking.start_run("baselines", "svm", stage="svm", regime="sums") as run:
        tracking.log_metrics(run.info.run_id, {"train_pairs": 100})
        with tracking.start_run(
            "baselines", "default", stage="svm", parent_run_id=run.info.run_id, tags={"engine": "onedal"}, regime="sums"
        ) as kid:
            tracking.log_metrics(kid.info.run_id, {"val_accuracy": 0.5})
    lines = report._grid_section({"svm": MlflowClient().get_run(run.info.run_id)}, "svm", "SVM", {}, [])
    assert "Fitted by oneDAL (scikit-learn-intelex)." in lines
