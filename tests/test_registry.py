"""Registry, pyfunc loading and `mnistsum predict`, against a real SQLite registry."""

import subprocess
import sys

import mlflow
import numpy as np
import pytest
from PIL import Image

from mnistsum import tracking
from mnistsum.cli import main as cli_main
from mnistsum.nn import Arrays, MlpConfig, train
from mnistsum.registry import champion, log_and_register


@pytest.fixture(scope="module")
def tiny_model(tiny_splits):
    data = Arrays.from_pairs(tiny_splits["train"], tiny_splits["val"], tiny_splits["test"])
    return train(MlpConfig(units=(32,)), data, epochs=2, batch_size=128, seed=42).model


def _register(model, val):
    with tracking.start_run("nn", "final", stage="final") as run:
        return log_and_register(model, run.info.run_id, "mnistsum-mlp", "champion", val), run.info.run_id


def test_champion_only_moves_to_better(mlflow_store, tiny_model, tiny_splits, tmp_path, capsys):
    v1, _ = _register(tiny_model, 0.50)
    assert v1["version"] == 1 and v1["alias_action"] == "promoted"
    v2, run2 = _register(tiny_model, 0.40)
    assert int(champion("mnistsum-mlp", "champion").version) == 1 and v2["alias_action"].startswith("kept v1")
    assert mlflow.get_run(run2).data.tags["registry.champion"] == "false"
    v3, _ = _register(tiny_model, 0.60)
    assert int(champion("mnistsum-mlp", "champion").version) == 3 and v3["alias_action"] == "promoted over v1"

    # pyfunc: uint8 pixels and flat floats both give (n,) sums, equal to the Keras argmax.
    model = mlflow.pyfunc.load_model("models:/mnistsum-mlp@champion")
    x = tiny_splits["test"].x[:7]
    expected = np.asarray(tiny_model.predict(tiny_splits["test"].flat()[:7], verbose=0)).argmax(axis=1)
    assert model.predict(x).shape == (7,)
    assert np.array_equal(model.predict(x), expected)
    assert np.array_equal(model.predict(tiny_splits["test"].flat()[:7]), expected)

    # The CLI on PNGs written here and on an .npz.
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"pair{i}.png")
        Image.fromarray(x[i]).save(paths[-1])
    np.savez(tmp_path / "batch.npz", x=x[:3])
    cli_main(["predict", "--model", "models:/mnistsum-mlp@champion", *map(str, paths), str(tmp_path / "batch.npz")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5
    assert [int(line.split("sum")[1].split()[0]) for line in lines] == [*expected[:2], *expected[:3]]


@pytest.mark.parametrize("content, expected", [
    ("wrong-size", "image is 28x28 (width x height), expected 28x56"),
    ("not-image", "not an image"),
    ("bad-npz", "x has shape (2, 28, 28), expected (n, 56, 28)"),
])
def test_predict_rejects_bad_files(tmp_path, content, expected, capsys):
    path = tmp_path / ("f.npz" if content == "bad-npz" else "f.png")
    if content == "wrong-size":
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(path)
    elif content == "not-image":
        path.write_text("hello")
    else:
        np.savez(path, x=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(SystemExit) as exc:
        cli_main(["predict", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_unknown_model_fails_in_one_line(mlflow_store, tiny_splits, tmp_path):
    png = tmp_path / "p.png"
    Image.fromarray(tiny_splits["test"].x[0]).save(png)
    proc = subprocess.run([sys.executable, "-m", "mnistsum.cli", "predict", "--model", "models:/no-such-model@champion",
                           str(png)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: cannot load model 'models:/no-such-model@champion'")
    assert len(proc.stderr.strip().splitlines()) == 1
