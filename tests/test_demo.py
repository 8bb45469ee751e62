"""The demo page: MNIST's preprocessing of drawn digits, uploads, the answer through the pulled model, the page
through gradio_client, and the page in a real headless Chromium (Playwright driving Debian's chromium)."""

from __future__ import annotations

import shutil
import socket

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mnistsum import demo
from mnistsum.demo import CANVAS, DemoInputError, read_upload, to_mnist

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def as_canvas(digit: np.ndarray, size: int = CANVAS) -> np.ndarray:
    """An MNIST digit as a drawing canvas delivers one: scaled up to the canvas, black ink on a transparent
    background (RGBA). For feeding MNIST digits through the drawing chain."""
    up = np.asarray(Image.fromarray(digit).resize((size, size), Image.BILINEAR), dtype=np.uint8)
    out = np.zeros((size, size, 4), dtype=np.uint8)
    out[..., 3] = up  # black strokes whose opacity is the digit's grey level
    return out


def _bbox(image: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(image > 0.1 * image.max())
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def test_a_canvas_digit_comes_out_as_mnist_prepared_it(mnist):
    """MNIST digits rendered as a canvas delivers them (10x, black ink on transparent) come back close to the
    originals: fitted in 20x20, centred by centre of mass where MNIST's are."""
    correlations = []
    for digit in mnist.x_test[:100]:
        out = to_mnist(as_canvas(digit))
        assert out.shape == (28, 28) and out.dtype == np.uint8 and out.max() == 255
        assert max(_bbox(out)) <= 21
        cy, cx = ndimage.center_of_mass(out.astype(float))
        assert abs(cy - 14) < 0.1 and abs(cx - 14) < 0.1
        correlations.append(np.corrcoef(out.ravel().astype(float), digit.ravel().astype(float))[0, 1])
    assert np.mean(correlations) > 0.9 and min(correlations) > 0.75


def test_a_stroke_anywhere_on_a_white_canvas_is_scaled_and_centred():
    canvas = np.full((280, 280, 3), 255, dtype=np.uint8)  # an opaque white canvas, a black stroke in a corner
    canvas[10:110, 230:250] = 0
    out = to_mnist(canvas)
    assert _bbox(out)[0] in (20, 21)  # the long side fills the 20-pixel box (sub-pixel centring: +1 at most)
    cy, cx = ndimage.center_of_mass(out.astype(float))
    assert abs(cy - 14) < 0.1 and abs(cx - 14) < 0.1


def test_an_empty_canvas_is_refused_with_one_line():
    with pytest.raises(DemoInputError, match="^the top canvas is empty: draw a digit in it$"):
        to_mnist(np.zeros((280, 280, 4), dtype=np.uint8), "top canvas")
    with pytest.raises(DemoInputError, match="draw a digit in both canvases"):
        demo.pair_from(None, {"composite": None}, None)


def test_uploads_one_pair_or_two_digits_and_nothing_else(mnist, tmp_path):
    top, bottom = mnist.x_test[0], mnist.x_test[1]
    Image.fromarray(np.concatenate([top, bottom])).save(tmp_path / "pair.png")
    Image.fromarray(top).save(tmp_path / "top.png")
    Image.fromarray(bottom).save(tmp_path / "bottom.png")
    expected = np.concatenate([top, bottom])
    assert np.array_equal(read_upload([str(tmp_path / "pair.png")]), expected)
    assert np.array_equal(read_upload([str(tmp_path / "top.png"), str(tmp_path / "bottom.png")]), expected)
    Image.fromarray(np.zeros((30, 30), dtype=np.uint8)).save(tmp_path / "big.png")
    (tmp_path / "notes.png").write_text("not an image")
    for files, message in (
        (["big.png"], "big.png: image of 30 rows x 30 columns, expected 56 rows x 28 columns"),
        (["top.png", "big.png"], "big.png: image of 30 rows x 30 columns, expected 28 rows x 28 columns"),
        (["notes.png"], "notes.png: not a readable image"),
        (["top.png", "top.png", "top.png"], "3 files uploaded"),
    ):
        with pytest.raises(DemoInputError, match=message):
            read_upload([str(tmp_path / f) for f in files])


@pytest.fixture(scope="module")
def reader(stage_runs):
    """The tiny sumnet the family stage registered, pulled through MLflow as users pull it."""
    _, _, uri = stage_runs
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    yield demo.Reader("models:/mnistsum-sumnet@champion")
    mp.undo()


@pytest.fixture(scope="module")
def page_url(reader):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    page = demo.app(reader)
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, theme=demo.theme())
    yield f"http://127.0.0.1:{port}"
    page.close()


def test_the_reader_answers_with_the_pulled_models_probabilities(reader, tiny_splits):
    pair = tiny_splits["test"].x[0]
    answer = reader.read(pair)
    assert reader.version == "mnistsum-sumnet v1 (sumnet, sums)"
    assert answer.sums.shape == (19,) and answer.top.shape == answer.bottom.shape == (10,)
    assert np.allclose(answer.sums, reader.model.predict_proba(pair[None])[0])
    s, t, b = int(answer.sums.argmax()), int(answer.top.argmax()), int(answer.bottom.argmax())
    assert answer.line == f"sum {s}, probability {answer.sums[s]:.3f}: digits {t} ({answer.top[t]:.3f}) + " + (
        f"{b} ({answer.bottom[b]:.3f})"
    )


def test_the_page_answers_through_gradio_client(page_url, reader, mnist, tmp_path):
    from gradio_client import Client, handle_file

    Image.fromarray(mnist.x_test[0]).save(tmp_path / "top.png")
    Image.fromarray(mnist.x_test[1]).save(tmp_path / "bottom.png")
    client = Client(page_url, verbose=False)
    files = [handle_file(str(tmp_path / "top.png")), handle_file(str(tmp_path / "bottom.png"))]
    line, *_ = client.predict(None, None, files, api_name="/read")
    assert line == "### " + reader.read(np.concatenate([mnist.x_test[0], mnist.x_test[1]])).line
    Image.fromarray(np.zeros((30, 30), dtype=np.uint8)).save(tmp_path / "big.png")
    line, *_ = client.predict(None, None, [handle_file(str(tmp_path / "big.png"))], api_name="/read")
    assert line == "**error:** big.png: image of 30 rows x 30 columns, expected 56 rows x 28 columns"


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium; make test installs it where it can)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _answer(page, previous: str = "") -> str:
    """The answer once it is in: while the model works, the box shows a timer ("0.2s", "processing | 1.2/1.1s")
    above the last answer."""
    page.wait_for_function(
        """([previous]) => {
            const t = document.querySelector('#answer').innerText.trim();
            return (t.startsWith('sum ') || t.startsWith('error:')) && t !== previous;
        }""",
        arg=[previous],
        timeout=60_000,
    )
    return page.inner_text("#answer").strip()


def test_in_a_browser_uploaded_mnist_digits_are_read(browser, page_url, reader, mnist, tmp_path):
    page = browser.new_page(viewport={"width": 1300, "height": 1100})
    page.goto(page_url)
    page.wait_for_selector("#read")
    Image.fromarray(mnist.x_test[3]).save(tmp_path / "top.png")
    Image.fromarray(mnist.x_test[4]).save(tmp_path / "bottom.png")
    page.locator("#upload input[type=file]").set_input_files([str(tmp_path / "top.png"), str(tmp_path / "bottom.png")])
    page.locator("#upload").get_by_text("bottom").wait_for()  # uploaded (the list shows each name's stem)
    page.click("#read")
    expected = reader.read(np.concatenate([mnist.x_test[3], mnist.x_test[4]])).line
    assert _answer(page) == expected
    page.close()


def test_in_a_browser_drawn_strokes_get_an_answer_and_an_empty_canvas_a_message(browser, page_url):
    page = browser.new_page(viewport={"width": 1300, "height": 1100})
    page.goto(page_url)
    page.wait_for_selector("#read")
    page.click("#read")  # nothing drawn yet
    assert _answer(page).startswith("error:") and "draw a digit" in page.inner_text("#answer")
    for where in ("top", "bottom"):
        page.click(f"#{where} button[aria-label=Brush]")
        box = page.locator(f"#{where} canvas").first.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y - 60)
        page.mouse.down()
        for i in range(1, 21):  # a vertical stroke, drawn as a hand would: many small moves
            page.mouse.move(x, y - 60 + 6 * i, steps=2)
        page.mouse.up()
    before = page.inner_text("#answer").strip()
    page.click("#read")
    answer = _answer(page, previous=before)
    assert answer.startswith("sum ") and ": digits " in answer, answer
    page.close()
