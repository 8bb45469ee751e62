"""Every kind of bad input of the issue "never a silent wrong answer": one `error:` line naming what was wrong,
exit 2, nothing written. The DVC rows (replaced MNIST file, misspelled section) are in test_pipeline.py, the
SIGKILL row in test_studies.py."""

import io
import os
import re
import resource
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import mlflow
import numpy as np
import pytest
from PIL import Image

from mnistsum import tracking
from mnistsum.cli import main as cli_main
from mnistsum.cli import read_file
from mnistsum.data.feed import Arrays
from mnistsum.models.served import PixelError, model_input
from mnistsum.models.specs import MlpSpec
from mnistsum.tracking.registry import log_and_register
from mnistsum.training import train

GOOD = np.zeros((2, 56, 28), np.uint8)
GOOD[:, 10:18, 12:15] = GOOD[:, 38:46, 12:15] = 255  # a stroke in each half: something to read
ZEROS = np.zeros((2, 56, 28), np.uint8)


def _npz(path: Path, x) -> Path:
    np.savez(path, x=x)
    return path


FILES = {
    "floats above 1": (lambda p: _npz(p / "a.npz", ZEROS.astype(np.float32) + 2.0), "float32 values in [2, 2]"),
    "negative floats": (lambda p: _npz(p / "a.npz", ZEROS.astype(np.float64) - 0.5), "values in [-0.5, -0.5]"),
    "values over 255": (lambda p: _npz(p / "a.npz", ZEROS.astype(np.int64) + 300), "dtype int64"),
    "int64 pixels": (lambda p: _npz(p / "a.npz", ZEROS.astype(np.int64)), "dtype int64"),
    "NaN": (lambda p: _npz(p / "a.npz", np.full((2, 56, 28), np.nan, np.float32)), "NaN or infinite"),
    "inf": (lambda p: _npz(p / "a.npz", np.full((1, 1568), np.inf)), "NaN or infinite"),
    "no images": (lambda p: _npz(p / "a.npz", np.zeros((0, 56, 28), np.uint8)), "no images"),
    "uint8 flat": (lambda p: _npz(p / "a.npz", np.zeros((2, 1568), np.uint8)), "expected uint8 pixels (n, 56, 28)"),
    "transposed": (lambda p: _npz(p / "a.npz", np.zeros((2, 28, 56), np.uint8)), "shape (2, 28, 56), expected"),
    "corrupt npz": (lambda p: (p / "a.npz").write_bytes(b"PK\x03\x04garbage") and p / "a.npz", "not a readable .npz"),
    "npy named npz": (
        lambda p: (np.save(p / "a.npy", GOOD), (p / "a.npy").rename(p / "a.npz"))[1],
        "not an .npz archive",
    ),
    "no x": (lambda p: (np.savez(p / "a.npz", y=GOOD), p / "a.npz")[1], "no array 'x'"),
    "text as png": (lambda p: (p / "a.png").write_text("hi") and p / "a.png", "not a readable image"),
    "wrong size png": (
        lambda p: (Image.fromarray(np.zeros((28, 28), np.uint8)).save(p / "a.png"), p / "a.png")[1],
        "28 rows x 28 columns, expected 56 rows x 28 columns",
    ),
    "missing file": (lambda p: p / "nope.png", "file not found"),
    "a directory": (lambda p: (p / "pngs").mkdir() or p / "pngs", "is a directory"),
    "colour png": (lambda p: _rgb(p, equal=False), "colour image (RGB with unequal channels)"),
    "transparent png": (
        lambda p: (Image.fromarray(np.zeros((56, 28, 4), np.uint8), "RGBA").save(p / "a.png"), p / "a.png")[1],
        "transparent pixels",
    ),
}


def _rgb(folder: Path, equal: bool) -> Path:
    grey = np.random.default_rng(0).integers(0, 256, (56, 28), dtype=np.uint8)
    rgb = np.stack([grey, grey, grey if equal else 255 - grey], axis=-1)
    Image.fromarray(rgb, "RGB").save(folder / "a.png")
    return folder / "a.png"


def test_a_grey_image_saved_as_rgb_reads_as_its_grey_levels(tmp_path):
    path = _rgb(tmp_path, equal=True)
    assert np.array_equal(read_file(path)[0], np.asarray(Image.open(path))[..., 0])


def test_ui_on_a_busy_port_is_one_error_line_before_any_url(mlflow_store, tmp_path):
    tracking.experiment_id("nn")  # a store to open
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "mnistsum.cli", "ui", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ | {"MLFLOW_TRACKING_URI": mlflow_store},
        )
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot serve on 127.0.0.1:") and str(port) in lines[0]


@pytest.mark.parametrize("args", [["ui", "--port", "99999"], ["serve", "--port", "0"], ["demo", "--port", "x"]])
def test_a_port_out_of_range_is_a_usage_error(args, capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(args)
    assert exc.value.code == 2 and "argument --port: invalid port_number value" in capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(FILES))
def test_bad_files_are_one_line_and_exit_2(case, tmp_path, capsys):
    make, expected = FILES[case]
    path = make(tmp_path)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(SystemExit) as exc:
        cli_main(["predict", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and expected in err and err.count("\n") == 1, err
    assert sorted(os.listdir(tmp_path)) == before  # nothing written


def _png(tmp_path) -> Path:
    path = tmp_path / "p.png"
    Image.fromarray(GOOD[0]).save(path)
    return path


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("foo://somewhere", "unsupported scheme 'foo'"),
        ("file:///tmp/mlruns", "plain file stores are off"),
        (
            "sqlite:////typo/dir/mlflw.db",
            "no MLflow store at /typo/dir/mlflw.db (MLFLOW_TRACKING_URI, sqlite:////typo/dir/mlflw.db)",
        ),
    ],
)
def test_bad_tracking_uris(uri, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for argv in (["predict", str(_png(tmp_path))], ["runs", "diff", "a", "b"]):
        with pytest.raises(SystemExit) as exc:
            cli_main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err
    assert not Path("/typo").exists()  # a reading command never creates a store


def test_pixel_contract_refuses_without_casting():
    for bad in (
        GOOD.astype(np.int64),
        GOOD.astype(np.float32) + 1.5,
        np.zeros((0, 56, 28), np.uint8),
        np.full((1, 56, 28), np.nan),
        np.zeros((2, 1568), np.uint8),
        np.zeros((2, 56, 27), np.uint8),
        np.array([], dtype=object),
        {"other": GOOD},
        {"pixels": GOOD, "other": GOOD},
    ):
        with pytest.raises(PixelError) as exc:
            model_input(bad)
        assert "\n" not in str(exc.value) and "expected" in str(exc.value)
    assert model_input(GOOD).dtype == np.float32
    # Nothing to read, or a binarised image sent as integers: refused, never answered with a confident sum.
    for bad, line in (
        (np.zeros((1, 56, 28), np.uint8), "image 0 of 1 is blank (every pixel 0 of 255): nothing to read"),
        (np.full((2, 56, 28), 0.5), "image 0 of 2 is blank (every pixel 127.5 of 255)"),
        (np.concatenate([GOOD[:1], GOOD[:1] // 255]), "image 1 of 2 holds only pixels 0 and 1"),
        (np.array((GOOD // 255).tolist(), dtype=object), "image 0 of 2 holds only pixels 0 and 1"),  # as JSON
    ):
        with pytest.raises(PixelError, match=re.escape(line)):
            model_input(bad)
    assert np.array_equal(model_input(np.array((GOOD / 255.0).tolist(), dtype=object)), model_input(GOOD))
    # The served model's named input, as MLflow hands it over.
    assert np.array_equal(model_input({"pixels": GOOD}), model_input(GOOD))


def _register_tiny(splits, seed):
    data = Arrays.from_pairs(splits["train"], splits["val"], splits["test"])
    model = train(MlpSpec(units=(32,)), data, epochs=1, batch_size=128, seed=seed).model
    v = splits["val"]
    with tracking.start_run("nn", "final", regime="sums") as run:
        log_and_register(
            model,
            run.info.run_id,
            ["mnistsum-mlp", "mnistsum"],
            "champion",
            0.5,
            val_x=v.x,
            val_y=v.y,
            data_ids={"train": "a" * 64, "val": "b" * 64, "test": "c" * 64},
            params={},
            family="mlp",
            regime="sums",
        )


def test_floats_and_pixels_give_the_same_sums(mlflow_store, tiny_splits, tmp_path, capsys, test_seed):
    """The same images as uint8 pixels and as floats in [0, 1] (both shapes) give identical sums through
    `mnistsum predict` and through the registered pyfunc model."""
    _register_tiny(tiny_splits, test_seed)
    pixels = tiny_splits["test"].x[:20]
    floats = pixels.astype(np.float32) / 255.0
    capsys.readouterr()
    outs = []
    for name, x in (("u8", pixels), ("f3", floats), ("f2", floats.reshape(20, -1))):
        np.savez(tmp_path / f"{name}.npz", x=x)
        cli_main(["predict", str(tmp_path / f"{name}.npz")])
        outs.append([line.split("sum")[1].split()[0] for line in capsys.readouterr().out.splitlines()])
    assert outs[0] == outs[1] == outs[2] and len(outs[0]) == 20
    pyfunc = mlflow.pyfunc.load_model("models:/mnistsum-mlp@champion")
    sums = pyfunc.predict(pixels)
    assert [str(s) for s in sums] == outs[0]
    assert np.array_equal(pyfunc.predict(floats), sums) and np.array_equal(pyfunc.predict(floats.reshape(20, -1)), sums)
    # The rows of the table, through the pyfunc: refused in one line, never answered.
    for bad in (np.full((2, 56, 28), np.nan, np.float32), pixels.reshape(20, -1), pixels.astype(np.int64) + 300):
        with pytest.raises(ValueError) as exc:  # the model's own copy of PixelError, loaded from its code
            pyfunc.predict(bad)
        assert type(exc.value).__name__ == "PixelError" and "\n" not in str(exc.value)


def test_successful_predict_is_quiet(mlflow_store, tiny_splits, tmp_path, test_seed):
    """Results only on stdout, nothing at all on stderr (no TensorFlow or MLflow banners)."""
    _register_tiny(tiny_splits, test_seed)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run(
        [sys.executable, "-m", "mnistsum.cli", "predict", str(_png(tmp_path))],
        capture_output=True,
        text=True,
        timeout=300,
        env=env | {"MLFLOW_TRACKING_URI": mlflow_store},
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.count("\n") == 1 and " sum " in proc.stdout


def test_outside_the_repo_the_error_names_the_store_and_the_variable(tmp_path):
    """No store here and no MLFLOW_TRACKING_URI: one line naming both, and no store created."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    for command in (["predict", str(_png(tmp_path))], ["serve"], ["ui"]):
        proc = subprocess.run(
            [sys.executable, "-m", "mnistsum.cli", *command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert str(tmp_path / "mlruns" / "mlflow.db") in lines[0] and "MLFLOW_TRACKING_URI" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]  # nothing created: no mlruns/, no mlflow.db


def _npz_claiming(path: Path, shape: tuple[int, ...], payload: int = 0) -> Path:
    """An .npz whose x.npy header claims `shape`, followed by `payload` zero bytes (compressed to almost nothing)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", header.getvalue() + b"\0" * payload)
    return path


@pytest.mark.parametrize(
    "shape, payload, line",
    [
        ((2_000_000, 56, 28), 3_000_000, "x holds 2,000,000 images; at most 100,000 a call (split the file)"),
        ((10**9, 56, 28), 0, "x holds 1,000,000,000 images; at most 100,000 a call (split the file)"),
        ((3, 10**9), 0, "x of shape (3, 1000000000) is larger than 100,000 images of 56x28"),
    ],
)
def test_an_npz_bomb_is_refused_from_its_header_under_a_memory_cap(tmp_path, shape, payload, line):
    """Before: two float copies of the claimed array were made before any size check (22 GB, then the kernel)."""
    bomb = _npz_claiming(tmp_path / "bomb.npz", shape, payload)
    assert bomb.stat().st_size < 50_000
    cap = 3 * 1024**3  # 3 GiB of address space: the interpreter and its imports fit, the claimed array never would
    proc = subprocess.run(
        [sys.executable, "-m", "mnistsum.cli", "predict", str(bomb)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)),
    )
    assert (
        proc.returncode == 2
        and proc.stderr == f"error: {bomb}: {line} (split the file)\n"
        or (proc.returncode == 2 and proc.stderr == f"error: {bomb}: {line}\n")
    ), proc.stderr[-2000:]
