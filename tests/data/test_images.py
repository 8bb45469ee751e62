"""One image contract for every door: `mnistsum predict` and the demo's upload read a file the same way, or refuse
it with the same line (never a silent conversion)."""

import numpy as np
import pytest
from PIL import Image

from mnistsum.cli import read_file
from mnistsum.data.images import read_grey
from mnistsum.demo import DemoInputError, read_upload
from mnistsum.errors import InputError


@pytest.fixture
def pair(mnist):
    return np.concatenate([mnist.x_test[0], mnist.x_test[1]])  # 7 over 2


def _save(path, array, mode=None, **kwargs):
    Image.fromarray(array, mode).save(path, **kwargs) if mode else Image.fromarray(array).save(path, **kwargs)
    return path


def _both(path):
    """What predict and the demo make of one 56x28 file: (pixels, None) or (None, the error line)."""
    out = []
    for read in (lambda: read_file(path)[0], lambda: read_upload([str(path)])):
        try:
            out.append((read(), None))
        except InputError as exc:
            out.append((None, str(exc)))
    return out


def test_grey_forms_of_one_pair_read_the_same_everywhere(pair, tmp_path):
    rgb = np.repeat(pair[..., None], 3, axis=2)
    files = {
        "grey": _save(tmp_path / "grey.png", pair),
        "rgb": _save(tmp_path / "rgb.png", rgb),
        "opaque rgba": _save(tmp_path / "rgba.png", np.dstack([rgb, np.full(pair.shape, 255, np.uint8)])),
        "opaque la": _save(tmp_path / "la.png", np.dstack([pair, np.full(pair.shape, 255, np.uint8)]), "LA"),
        "palette": tmp_path / "p.png",
    }
    Image.fromarray(pair).convert("P").save(files["palette"])
    for name, path in files.items():
        (cli, cli_err), (page, page_err) = _both(path)
        assert cli_err is None and page_err is None, (name, cli_err, page_err)
        assert np.array_equal(cli, pair) and np.array_equal(page, pair), name
    # A 1-bit image is its two levels, 0 and 255 (never 0 and 1).
    bits = _save(tmp_path / "bits.png", pair > 127)
    (cli, _), (page, _) = _both(bits)
    assert set(np.unique(cli)) == {0, 255} and np.array_equal(cli, page)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: np.dstack([np.repeat(p[..., None], 3, 2), np.full(p.shape, 128, np.uint8)]), "transparent pixels"),
        (lambda p: np.dstack([p, p // 2, p]), "colour image"),
        (lambda p: 255 - p, "light background"),
        (lambda p: np.full(p.shape, 7, np.uint8), "every pixel is 7: no digit to read"),
        (lambda p: p.astype(np.uint16) * 257, "image mode I;16"),
    ],
)
def test_what_is_refused_is_refused_by_every_door_in_one_line(pair, tmp_path, make, message):
    array = make(pair)
    path = tmp_path / "x.png"
    if array.dtype == np.uint16:
        Image.fromarray(array, "I;16").save(path)
    else:
        _save(path, array)
    (_, cli_err), (_, page_err) = _both(path)
    assert cli_err is not None and message in cli_err and "\n" not in cli_err, cli_err
    assert page_err == cli_err.replace(str(path), path.name)


def test_the_size_is_checked_from_the_header_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (3000, 2000)).save(path)
    with pytest.raises(InputError, match="image of 2000 rows x 3000 columns, expected 56 rows x 28 columns"):
        read_grey(path, [(56, 28)])
    with pytest.raises(DemoInputError, match="expected 28 rows x 28 columns"):
        read_upload([str(path), str(path)])
    # A decompression bomb (225 megapixels, a few kB of file) is refused in one line before any pixel is decoded.
    bomb = tmp_path / "bomb.png"
    Image.new("1", (15000, 15000)).save(bomb)
    with pytest.raises(InputError, match=r"bomb.png: image of over [\d,]+ pixels, expected 56 rows x 28 columns"):
        read_grey(bomb, [(56, 28)])
