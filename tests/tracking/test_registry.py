"""Registry, the self-contained pyfunc, serving and `mnistsum predict`, against real SQLite registries."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from mnistsum import tracking
from mnistsum.cli import main as cli_main
from mnistsum.data.feed import Arrays
from mnistsum.errors import InputError
from mnistsum.models.specs import MlpSpec
from mnistsum.services import free_port, wait_until_answers
from mnistsum.tracking.pull import pull
from mnistsum.tracking.registry import RegistryError, champion, log_and_register, promote
from mnistsum.training import train

REPO = Path(__file__).resolve().parents[2]
IDS = {"train": "t" * 64, "val": "v" * 64, "test": "x" * 64}


@pytest.fixture(scope="module")
def tiny_model(tiny_splits, test_seed):
    data = Arrays.from_pairs(tiny_splits["train"], tiny_splits["val"], tiny_splits["test"])
    return train(MlpSpec(units=(32,)), data, epochs=2, batch_size=128, seed=test_seed).model


def _register(model, val, splits, ids=IDS):
    with tracking.start_run("nn", "final", stage="final", regime="sums") as run:
        v = splits["val"]
        return log_and_register(
            model,
            run.info.run_id,
            ["mnistsum-mlp"],
            "champion",
            val,
            val_x=v.x,
            val_y=v.y,
            data_ids=ids,
            params={"units": [32]},
            family="mlp",
            regime="sums",
        )[0], run.info.run_id


def test_champion_only_moves_to_better_on_the_same_data(mlflow_store, tiny_model, tiny_splits, tmp_path, capsys):
    v1, _ = _register(tiny_model, 0.50, tiny_splits)
    assert v1["version"] == 1 and v1["alias_action"] == "promoted"
    v2, run2 = _register(tiny_model, 0.40, tiny_splits)
    assert int(champion("mnistsum-mlp", "champion").version) == 1 and v2["alias_action"].startswith("kept v1")
    assert mlflow.get_run(run2).data.tags["registry.champion"] == "false"
    v3, _ = _register(tiny_model, 0.60, tiny_splits)
    assert int(champion("mnistsum-mlp", "champion").version) == 3 and v3["alias_action"].startswith("promoted over v1")
    tags = MlflowClient(mlflow_store).get_model_version("mnistsum-mlp", "3").tags
    assert tags["data.val_sha256"] == IDS["val"] and len(tags["params.sha256"]) == 64

    # pyfunc: uint8 pixels give (n,) sums equal to the Keras argmax.
    model = mlflow.pyfunc.load_model("models:/mnistsum-mlp@champion")
    x = tiny_splits["test"].x[:7]
    expected = np.asarray(tiny_model.predict(tiny_splits["test"].x[:7], verbose=0)).argmax(axis=1)
    assert model.predict(x).shape == (7,)
    assert np.array_equal(model.predict(x), expected)
    assert np.array_equal(model.unwrap_python_model().predict(None, tiny_splits["test"].flat()[:7]), expected)
    assert np.array_equal(model.predict(tiny_splits["test"].flat()[:7]), expected)
    assert np.array_equal(model.predict(tiny_splits["test"].x[:7].astype(np.float32) / 255), expected)

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


def test_better_model_on_other_data_is_compared_fairly(mlflow_store, tiny_model, tiny_splits):
    """A new version on other validation pairs claims 0.99; the champion is re-scored on those pairs first."""
    _register(tiny_model, 0.10, tiny_splits)
    other = dict(IDS, val="w" * 64)
    truth = float(
        (np.asarray(tiny_model.predict(tiny_splits["val"].x, verbose=0)).argmax(1) == tiny_splits["val"].y).mean()
    )
    v2, _ = _register(tiny_model, 0.99, tiny_splits, other)
    assert v2["champion_val_accuracy"] == pytest.approx(truth)  # v1 measured on the new pairs, not its 0.10 tag
    assert v2["alias_action"].startswith("promoted over v1") and "re-evaluated" in v2["alias_action"]
    # A worse claim on yet other pairs loses to the champion measured there.
    v3, _ = _register(tiny_model, truth - 0.01, tiny_splits, dict(IDS, val="z" * 64))
    assert v3["alias_action"].startswith("kept v2")


def test_champion_that_cannot_load_is_replaced_not_a_traceback(mlflow_store, tiny_model, tiny_splits):
    """The champion must be re-scored on the new pairs, but its artifacts are gone: the new version, which
    loads, takes the alias, and the decision says why."""
    import shutil

    _register(tiny_model, 0.99, tiny_splits)
    client = tracking.configure()
    location = client.get_model_version_download_uri("mnistsum-mlp", "1")
    assert location.startswith("file://")
    shutil.rmtree(urllib.parse.unquote(urllib.parse.urlsplit(location).path))
    v2, _ = _register(tiny_model, 0.10, tiny_splits, dict(IDS, val="w" * 64))
    assert v2["alias_action"].startswith("promoted over v1 (v1 could not be loaded to re-score it: ")
    assert int(champion("mnistsum-mlp", "champion").version) == 2
    assert client.get_model_version("mnistsum-mlp", "2").tags["champion_compared"].startswith("v1 could not be loaded")


def test_unreachable_registry_is_an_error_not_no_champion(monkeypatch):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    with pytest.raises(RegistryError, match=f"127.0.0.1:{port}"):
        champion("mnistsum-mlp", "champion")


PROMOTE = """
import sys
from mnistsum import tracking
from mnistsum.tracking.registry import promote
print(promote("m", "champion", sys.argv[1])["alias_action"])
"""


def test_two_promotions_at_once_leave_the_better_one(mlflow_store):
    client = tracking.configure()
    client.create_registered_model("m")
    for acc in ("0.70", "0.90", "0.80"):  # v1 champion, then v2 (better) and v3 (worse) race
        mv = client.create_model_version(
            "m", "file:///nonexistent", tags={"val_accuracy": acc, "data.val_sha256": "same"}
        )
    promote("m", "champion", 1)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROMOTE, v],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ | {"MLFLOW_TRACKING_URI": mlflow_store},
        )
        for v in ("3", "2")
    ]
    actions = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), actions
    assert str(client.get_model_version_by_alias("m", "champion").version) == "2" and str(mv.version) == "3"


BLOCKED = """
import sys
sys.modules["mnistsum"] = None  # importing mnistsum now raises
try:
    import mnistsum  # noqa: F401
    raise SystemExit("mnistsum importable")
except ImportError:
    pass
import numpy as np, mlflow
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[3])
x = np.load(sys.argv[2])
print(" ".join(map(str, model.predict(x))))
"""


def test_a_version_describes_itself_on_the_registry_page_and_in_its_card(
    mlflow_store, tiny_model, tiny_splits, tmp_path
):
    """The version's description (the registry page) and the model_card.md pulled with it name the family, the
    training regime, the validation accuracy that chose it and the data digests."""
    _register(tiny_model, 0.5, tiny_splits)
    description = tracking.configure().get_model_version("mnistsum-mlp", "1").description
    model_dir = mlflow.artifacts.download_artifacts("models:/mnistsum-mlp@champion", dst_path=str(tmp_path / "m"))
    card = (Path(model_dir) / "artifacts" / "model_card.md").read_text()
    assert card == description
    for needed in (
        "**Family:** `mlp`",
        "**Training regime:** `sums`",
        "| val_accuracy | 0.5000 | chose this model",
        IDS["val"],
        IDS["train"],
        "56 rows x 28 columns",
        "mnistsum serve --model models:/mnistsum-mlp",
    ):
        assert needed in card, needed
    assert tracking.configure().get_model_version("mnistsum-mlp", "1").tags["regime"] == "sums"


def test_pulled_model_stands_alone(mlflow_store, tiny_model, tiny_splits, tmp_path, capsys):
    """Through the registry, and as the README pulls it (`mnistsum pull`, then a process without mnistsum)."""
    _register(tiny_model, 0.5, tiny_splits)
    x = tiny_splits["test"].x[:5]
    np.save(tmp_path / "x.npy", x)
    folder = tmp_path / "pulled" / "champion"
    cli_main(["pull", "--model", "models:/mnistsum-mlp@champion", str(folder)])
    assert f"pulled models:/mnistsum-mlp@champion into {folder}" in capsys.readouterr().out
    cli_main(["pull", "--model", "models:/mnistsum-mlp@champion", str(folder)])  # a second pull replaces the first
    assert sorted(p.name for p in folder.parent.iterdir()) == ["champion"]  # no staging folder left behind
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    expected = np.asarray(tiny_model.predict(tiny_splits["test"].x[:5], verbose=0)).argmax(axis=1)
    for uri in ("models:/mnistsum-mlp@champion", str(folder)):
        proc = subprocess.run(
            [sys.executable, "-c", BLOCKED, mlflow_store, str(tmp_path / "x.npy"), uri],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.split() == [str(v) for v in expected]
    reqs = (folder / "requirements.txt").read_text()
    assert "tensorflow==" in reqs and "tensorflow-cpu" not in reqs
    assert "mnistsum" not in reqs
    assert (folder / "input_example.json").is_file()


def test_pull_never_deletes_what_it_did_not_write_and_never_passes_a_broken_model(
    mlflow_store, tiny_model, tiny_splits, tmp_path
):
    _register(tiny_model, 0.5, tiny_splits)
    folder = tmp_path / "model"
    pull("models:/mnistsum-mlp@champion", folder)
    # A user's file beside a pulled model (or a folder with an MLmodel of its own): never replaced.
    (folder / "thesis.tex").write_text("mine")
    with pytest.raises(InputError, match=r"holds files no pull wrote \(thesis.tex\)"):
        pull("models:/mnistsum-mlp@champion", folder)
    assert (folder / "thesis.tex").read_text() == "mine"
    (folder / "thesis.tex").unlink()
    pull("models:/mnistsum-mlp@champion", folder)  # everything in it is the pull's own: replaced
    # A registered version whose network file is garbage: refused before anything is put in place.
    store = Path(mlflow_store.removeprefix("sqlite:///")).parent
    for keras_file in store.rglob("*.keras"):
        keras_file.write_bytes(b"not a model")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InputError, match=r"cannot pull 'models:/mnistsum-mlp@champion': the model does not load"):
        pull("models:/mnistsum-mlp@champion", tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no folder, no staging left behind


def test_pull_refuses_in_one_line_and_leaves_nothing(mlflow_store, tiny_model, tiny_splits, tmp_path):
    """A folder holding something else, an unknown model, and a folder with no store: one line, exit 2, and
    neither a half-filled folder nor an empty store is left."""
    _register(tiny_model, 0.5, tiny_splits)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env_without_store = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    cases = [
        (["pull", str(taken)], os.environ, tmp_path, f"error: {taken}: holds files no pull wrote (notes.txt)"),
        (
            ["pull", "--model", "/etc", str(tmp_path / "x")],
            os.environ,
            tmp_path,
            "error: --model '/etc': expected a registered model",
        ),
        (
            ["pull", "--model", "models:/nope@champion", str(tmp_path / "p")],
            os.environ,
            tmp_path,
            "error: cannot pull 'models:/nope@champion': Registered Model with name=nope not found",
        ),
        (
            ["pull", str(elsewhere / "m")],
            env_without_store,
            elsewhere,
            f"error: no MLflow store at {elsewhere / 'mlruns' / 'mlflow.db'}",
        ),
    ]
    for args, env, cwd, line in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "mnistsum.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert proc.stderr.startswith(line) and proc.stderr.count("\n") == 1, proc.stderr
    assert (taken / "notes.txt").read_text() == "mine" and len(list(taken.iterdir())) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".p", "p"))) == []
    assert list(elsewhere.iterdir()) == []  # no mlruns/ created where no store was asked for


def test_served_model_answers_invocations(mlflow_store, tiny_model, tiny_splits, tmp_path):
    _register(tiny_model, 0.5, tiny_splits)
    port = free_port()
    # `mnistsum serve` as the README runs it: mlflow models serve on the store, from another folder.
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mnistsum.cli",
            "serve",
            "--model",
            "models:/mnistsum-mlp@champion",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"MLFLOW_TRACKING_URI": mlflow_store},
    )
    try:
        try:
            wait_until_answers(f"http://127.0.0.1:{port}/ping", server, 240, "mlflow models serve")
        except RuntimeError as exc:
            pytest.fail(f"{exc}: {server.stderr.read()[-2000:]}")
        x = tiny_splits["test"].x[:4]
        body = json.dumps({"inputs": x.tolist()}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        answer = json.loads(urllib.request.urlopen(req, timeout=60).read())
        expected = np.asarray(tiny_model.predict(tiny_splits["test"].x[:4], verbose=0)).argmax(axis=1)
        assert answer["predictions"] == expected.tolist()
        floats = json.dumps({"inputs": (x / 255.0).tolist()}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=floats, headers={"Content-Type": "application/json"}
        )
        assert json.loads(urllib.request.urlopen(req, timeout=60).read())["predictions"] == expected.tolist()
        named = json.dumps({"inputs": {"pixels": x.tolist()}}).encode()  # the input's name, spelled out
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=named, headers={"Content-Type": "application/json"}
        )
        assert json.loads(urllib.request.urlopen(req, timeout=60).read())["predictions"] == expected.tolist()
        # Bad bodies are refused by the model (never cast on the way in): HTTP 400 whose message is the
        # contract's one line, with no stack trace for the client.
        bad_bodies = {
            "integer pixels in [300, 555], expected 0-255 (or floats in [0, 1])": (x.astype(int) + 300).tolist(),
            "shape (4, 28, 56), expected uint8 pixels (n, 56, 28)": np.zeros((4, 28, 56), int).tolist(),
            "values in [-0.5, 0.5], expected floats in [0, 1]": np.full((1, 56, 28), 0.5).tolist()
            + [np.full((56, 28), -0.5).tolist()],
            "values of type str, expected uint8 pixels": [["a"] * 28] * 56,
            "no images (shape (0,)); expected at least one": [],
            "rows of unequal length (shape (2,) before them), expected uint8": [[1, 2], [3]],
        }
        for expected_line, inputs in bad_bodies.items():
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=json.dumps({"inputs": inputs}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(req, timeout=60)
            answer = json.loads(refused.value.read().decode())
            assert refused.value.code == 400 and "stack_trace" not in answer, answer
            assert answer["message"].startswith("input: ") and expected_line in answer["message"], answer
            assert "\n" not in answer["message"]
        # What a fault probe sent MLflow's own server (500s, stack traces, the body echoed back, any size):
        # each is a bounded 4xx whose message is one line, with no trace, path or echo.
        valid = json.dumps({"inputs": x.tolist()})
        probes = {
            "empty Content-Type": (valid.encode(), "", 415, "Content-Type missing: expected application/json"),
            "CSV": (b"1,2,3\n4,5,6\n", "text/csv", 415, "Content-Type text/csv: expected application/json"),
            "nested 5,000 deep": (b"[" * 5000 + b"]" * 5000, "application/json", 400, "nests deeper than 8"),
            "pixels >= 2**63": (
                json.dumps({"inputs": [[[2**63] * 28] * 56]}).encode(),
                "application/json",
                400,
                "an integer beyond 64 bits",
            ),
            "3 MB malformed": (b'{"inputs": [' + b"7," * 1_500_000, "application/json", 400, "body is not JSON"),
            "over the cap": (b" " * (9 * 2**20), "application/json", 413, "over 8,388,608 bytes"),
            "dataframe_split": (
                json.dumps(
                    {"dataframe_split": {"columns": list(range(1568)), "data": x.reshape(4, -1).tolist()}}
                ).encode(),
                "application/json",
                400,
                'the body does not match the model\'s input: send {"inputs": images}',
            ),
            "GET": (None, "", 405, "expected POST"),
        }
        for what, (data, content_type, status, line) in probes.items():
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations", data=data, headers={"Content-Type": content_type}
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(req, timeout=60)
            raw = refused.value.read()
            answer = json.loads(raw)
            assert refused.value.code == status, (what, refused.value.code, answer)
            assert set(answer) == {"error_code", "message"} and line in answer["message"], (what, answer)
            assert "\n" not in answer["message"] and len(raw) < 500, (what, answer)
            assert "/work" not in answer["message"] and str(Path.home()) + "/" not in answer["message"], answer
            assert "7,7,7" not in answer["message"] and "0.0, 0.0" not in answer["message"], (what, answer)
        # ... and the server still answers a good request after them.
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        assert json.loads(urllib.request.urlopen(req, timeout=60).read())["predictions"] == expected.tolist()
        server.terminate()  # as the README's `kill %1`: a stop asked for ends with status 0
        assert server.wait(timeout=30) == 0
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(
    "content, expected",
    [
        ("wrong-size", "image of 28 rows x 28 columns, expected 56 rows x 28 columns"),
        ("not-image", "not a readable image"),
        ("bad-npz", "shape (2, 28, 28), expected uint8 pixels (n, 56, 28): 56 rows x 28 columns"),
    ],
)
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
    assert expected in err and err.count("\n") == 1 and str(path) in err


def test_unknown_model_fails_in_one_line(mlflow_store, tiny_splits, tmp_path):
    png = tmp_path / "p.png"
    Image.fromarray(tiny_splits["test"].x[0]).save(png)
    tracking.experiment_id("nn")  # the store exists; only the model does not
    proc = subprocess.run(
        [sys.executable, "-m", "mnistsum.cli", "predict", "--model", "models:/no-such-model@champion", str(png)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: cannot load model 'models:/no-such-model@champion'")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_moved_clone_opens_its_runs_and_models(tiny_model, tiny_splits, tmp_path, monkeypatch):
    """MLflow's store keeps absolute artifact paths; a clone moved elsewhere (the old folder gone) must still
    show its figures in the UI and load its registered model, with the repo's default store URI."""
    import shutil
    import sqlite3

    old = tmp_path / "clone"
    old.mkdir()
    monkeypatch.chdir(old)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the default: sqlite:///mlruns/mlflow.db here
    _, run_id = _register(tiny_model, 0.5, tiny_splits)
    (old / "f.png").write_bytes(b"figure bytes")
    tracking.log_files(run_id, [old / "f.png"])
    moved = tmp_path / "elsewhere" / "clone2"
    moved.parent.mkdir()
    shutil.move(old, moved)
    monkeypatch.chdir(moved)

    def tables_naming(folder) -> list[str]:
        with sqlite3.connect(moved / "mlruns" / "mlflow.db") as db:
            found = []
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
                for column in [c[1] for c in db.execute(f"PRAGMA table_info({table})")]:
                    hits = db.execute(
                        f"SELECT count(*) FROM {table} WHERE instr(CAST({column} AS TEXT), ?) > 0", (str(folder) + "/",)
                    ).fetchone()[0]
                    found += [f"{table}.{column}"] * bool(hits)
            return found

    assert "runs.artifact_uri" in tables_naming(old)  # what MLflow alone would look in: a folder that is gone

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "mnistsum.cli", "ui", "--port", str(port)],
        cwd=moved,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # mlflow ui starts server workers: stop the whole group, or they keep the pipe
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(ui.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.time() + 180
        while not any(line.startswith("MLflow UI on") for line in lines) and time.time() < deadline:
            assert ui.poll() is None, "".join(lines)[-2000:]
            time.sleep(0.5)
        # It says it is starting at once, and gives the URL only once the server answers there.
        starting = next(i for i, line in enumerate(lines) if line.startswith(f"starting on http://127.0.0.1:{port}"))
        ready = next(i for i, line in enumerate(lines) if line.startswith("MLflow UI on"))
        assert starting < ready and f"http://127.0.0.1:{port}/#/experiments" in lines[ready]
        wait_until_answers(f"http://127.0.0.1:{port}/health", ui, 5, "mnistsum ui")
        figure = urllib.request.urlopen(
            f"http://127.0.0.1:{port}/get-artifact?path=figures/f.png&run_uuid={run_id}", timeout=30
        ).read()
        assert figure == b"figure bytes"
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=60)
        reader.join(timeout=60)
    output = "".join(lines)
    assert f"moved from {old}/mlruns: re-rooted" in output
    assert tables_naming(old) == [] and "runs.artifact_uri" in tables_naming(moved)

    np.savez(moved / "x.npz", x=tiny_splits["test"].x[:3])
    proc = subprocess.run(
        [sys.executable, "-m", "mnistsum.cli", "predict", "--model", "models:/mnistsum-mlp@champion", "x.npz"],
        cwd=moved,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = np.asarray(tiny_model.predict(tiny_splits["test"].x[:3], verbose=0)).argmax(axis=1)
    assert [int(line.split()[2]) for line in proc.stdout.splitlines()] == expected.tolist()


def _read_only(folder: Path) -> bool:
    """Make a folder and everything in it unwritable, even for root (chattr +i; chmod for anyone else);
    False where this machine cannot."""
    if os.geteuid() != 0:
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
    elif subprocess.run(["chattr", "-R", "+i", str(folder)], capture_output=True).returncode != 0:
        return False
    try:
        (folder / "probe").write_text("x")
    except OSError:
        return True
    return False


def _writable(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-R", "-i", str(folder)], capture_output=True)
    subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)


def test_a_read_only_or_locked_store_is_one_line(mlflow_store, tiny_model, tiny_splits, tiny_params_file, tmp_path):
    """A store on a read-only disk still predicts and diffs (loading never writes into it); a stage that must
    write to it, or a store another process holds locked, gets one line naming the store, not MLflow's and
    SQLAlchemy's tracebacks, and no minute-long wait."""
    import sqlite3

    _, run_id = _register(tiny_model, 0.5, tiny_splits)
    image = tmp_path / "pair.png"
    Image.fromarray(tiny_splits["test"].x[0]).save(image)
    store = tmp_path / "mlruns"

    def run(*args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)

    predict = ("-m", "mnistsum.cli", "predict", "--model", "models:/mnistsum-mlp@champion", str(image))
    expected = int(np.asarray(tiny_model.predict(tiny_splits["test"].x[:1], verbose=0)).argmax())
    if not _read_only(store):
        _writable(store)
        pytest.skip("this machine cannot make a folder read-only for this user")
    try:
        read = run(*predict)
        assert read.returncode == 0 and f" sum {expected:2d} " in read.stdout, read.stderr[-3000:]
        assert run("-m", "mnistsum.cli", "runs", "diff", run_id, run_id).returncode == 0
        out = tmp_path / "stage"
        stage = run(
            "pipelines/prepare.py",
            *("--params", str(tiny_params_file), "--data", str(out / "data"), "--summary", str(out / "s.json")),
            *("--plots", str(out / "plots")),
            cwd=REPO,  # as DVC runs it: the MNIST pin is read relative to the repository
        )
        assert stage.returncode == 2, stage.stderr[-3000:]
        assert stage.stderr == (
            f"error: the MLflow store {store / 'mlflow.db'} cannot be written (attempt to write a readonly "
            "database): make it and its folder writable, or copy it\n"
        ), stage.stderr[-3000:]
    finally:
        _writable(store)
    with sqlite3.connect(store / "mlflow.db", timeout=1) as holder:
        holder.execute("BEGIN EXCLUSIVE")  # what a writer holds while it commits
        locked = run(*predict)
        holder.rollback()
    assert locked.returncode == 2 and locked.stderr.count("\n") == 1, locked.stderr[-3000:]
    assert locked.stderr.startswith(f"error: the MLflow store {store / 'mlflow.db'} is locked by another process")
