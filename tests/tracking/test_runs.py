import json

import pytest

from mnistsum import tracking
from mnistsum.cli import main as cli_main


def _two_runs():
    with tracking.start_run("nn", "trial-001", params={"lr": 0.1, "units": 50, "seed": 42}, regime="sums") as a:
        tracking.log_metrics(a.info.run_id, {"val_accuracy": 0.5, "loss": 1.0})
    with tracking.start_run("nn", "trial-002", params={"lr": 0.01, "units": 50, "seed": 42}, regime="sums") as b:
        tracking.log_metrics(b.info.run_id, {"val_accuracy": 0.6, "loss": 1.0})
    return a.info.run_id, b.info.run_id


def test_diff_shows_exactly_the_differing_params(mlflow_store, capsys):
    a, b = _two_runs()
    cli_main(["runs", "diff", a, b, "--json"])
    diff = json.loads(capsys.readouterr().out)
    assert diff["params"] == {"lr": ["0.1", "0.01"]}
    assert diff["metrics"] == {"val_accuracy": [0.5, 0.6]}
    cli_main(["runs", "diff", "trial-001", "trial-002", "--experiment", "nn-studies", "--all", "--json"])
    full = json.loads(capsys.readouterr().out)
    assert set(full["params"]) == {"lr", "units", "seed"} and full["metrics"]["loss"] == [1.0, 1.0]
    cli_main(["runs", "diff", a, b])
    text = capsys.readouterr().out
    assert "lr" in text and "units" not in text and "A: trial-001" in text


def test_a_name_two_runs_share_is_refused_listing_them(mlflow_store, capsys):
    a, b = _two_runs()
    with tracking.start_run("nn", "trial-001", params={"lr": 0.5}, regime="sums") as c:
        pass
    with pytest.raises(SystemExit) as exc:
        cli_main(["runs", "diff", "trial-001", "trial-002"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert "2 runs are named 'trial-001'" in err and a[:8] in err and c.info.run_id[:8] in err


def test_unknown_run_is_one_line(mlflow_store, capsys):
    _two_runs()
    for args in (
        ["runs", "diff", "nope", "trial-001"],
        ["runs", "diff", "0" * 32, "trial-001"],
        ["runs", "diff", "trial-001", "trial-002", "--experiment", "nope"],
    ):
        with pytest.raises(SystemExit) as exc:
            cli_main(args)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1


def test_printed_ids_are_accepted_back(mlflow_store, capsys):
    a, b = _two_runs()
    cli_main(["runs", "diff", a[:8].upper(), b[:8], "--json"])
    assert json.loads(capsys.readouterr().out)["params"] == {"lr": ["0.1", "0.01"]}
