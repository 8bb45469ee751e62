from pathlib import Path

from mlflow.tracking import MlflowClient

from mnistsum import tracking


def test_runs_are_tagged_and_nested(mlflow_store, tmp_path):
    fig = tmp_path / "f.png"
    fig.write_bytes(b"png")
    with tracking.start_run(
        "data", "parent", stage="prepare", params={"a": {"b": 1, "c": [1, 2]}}, regime="sums"
    ) as parent:
        with tracking.start_run(
            "data", "child-1", stage="prepare", parent_run_id=parent.info.run_id, regime="sums"
        ) as child:
            tracking.log_history(child.info.run_id, {"loss": [3.0, 2.0, 1.0]})
        tracking.log_files(parent.info.run_id, [fig])
    client = MlflowClient(mlflow_store)
    run = client.get_run(parent.info.run_id)
    assert run.data.params == {"a.b": "1", "a.c": "1,2"}
    assert run.data.tags["dvc.stage"] == "prepare"
    assert len(run.data.tags["git.commit"]) in (40, 7) or run.data.tags["git.commit"] == "unknown"
    kids = tracking.child_runs(parent.info.run_id)
    assert [k.info.run_name for k in kids] == ["child-1"]
    assert [m.value for m in client.get_metric_history(child.info.run_id, "loss")] == [3.0, 2.0, 1.0]
    exp = client.get_experiment_by_name("data")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # runs table, not the GenAI view
    assert exp.artifact_location == (Path(mlflow_store[len("sqlite:///") :]).parent / "data").resolve().as_uri()
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "figures")] == ["figures/f.png"]


def test_dvc_stage_env_wins(mlflow_store, monkeypatch):
    monkeypatch.setenv("DVC_STAGE", "study3")
    with tracking.start_run("nn", "x", stage="other", regime="sums") as run:
        pass
    assert MlflowClient(mlflow_store).get_run(run.info.run_id).data.tags["dvc.stage"] == "study3"


def test_a_stage_s_own_run_says_how_busy_the_machine_was_and_a_child_does_not(mlflow_store):
    with tracking.start_run("nn", "stage", stage="final", regime="sums") as parent:
        with tracking.start_run("nn", "child", parent_run_id=parent.info.run_id, regime="sums") as child:
            pass
    client = MlflowClient(mlflow_store)
    assert 0 <= client.get_run(parent.info.run_id).data.metrics[tracking.BUSY_METRIC] <= 1
    assert client.get_run(parent.info.run_id).data.metrics[tracking.CORES_METRIC] >= 0
    assert tracking.BUSY_METRIC not in client.get_run(child.info.run_id).data.metrics
    assert tracking.CORES_METRIC not in client.get_run(child.info.run_id).data.metrics
