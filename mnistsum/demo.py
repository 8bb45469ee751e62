"""`mnistsum demo`: a Gradio page to draw (or upload) two digits and watch the registered model read them.

Drawn strokes go through MNIST's own preprocessing (`to_mnist`): the digit's bounding box is scaled to fit a
20x20 box keeping its aspect, with anti-aliased grey levels, and placed in a 28x28 field so that its centre of
mass is the field's centre; so a drawn digit looks to the model like an MNIST digit. The model is pulled from
the registry through MLflow, exactly as a user pulls it. Bad input gets one line on the page, never a traceback."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from PIL import Image
from scipy import ndimage

from mnistsum import tracking
from mnistsum.data.images import read_grey
from mnistsum.errors import InputError

CANVAS = 280  # the drawing canvases' side in pixels: 10x an MNIST digit
BOX = 20  # MNIST fits each digit's bounding box in 20x20 ...
FIELD = 28  # ... and centres it by centre of mass in 28x28
INK = 0.1  # a pixel is ink above this fraction of the strongest stroke (for the bounding box)
SUMS, DIGITS = [str(s) for s in range(19)], [str(d) for d in range(10)]  # bar order (labels are text)
VIEW = 5  # "what the model sees" is shown at 5x
MAX_UPLOAD = "1mb"  # per uploaded file
CENTRE = 14.0  # where MNIST's digits have their centre of mass (row and column; measured on its test digits)


class DemoInputError(InputError):
    """Input the page refuses, with the one line it shows."""


def ink(image: np.ndarray) -> np.ndarray:
    """How much ink each pixel holds, 0-255, white on black as MNIST: a canvas gives dark strokes on a light
    or transparent background (RGBA), an upload grey levels or colour. Transparent pixels hold no ink."""
    a = np.asarray(image)
    if a.ndim == 2:
        grey, alpha = a.astype(np.float32), None
    elif a.ndim == 3 and a.shape[2] in (3, 4):
        grey = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        alpha = a[..., 3].astype(np.float32) / 255 if a.shape[2] == 4 else None
    else:
        raise DemoInputError(f"image of shape {a.shape}: expected a grey (h, w) or colour (h, w, 3|4) image")
    if alpha is None:
        # Opaque: which way round is it? MNIST is light ink on dark; a drawing is dark ink on light.
        return grey if np.median(grey) < 128 else 255 - grey
    return (255 - grey) * alpha


def to_mnist(image: np.ndarray, what: str = "canvas") -> np.ndarray:
    """One drawn digit, as MNIST prepared its digits: (28, 28) uint8, white on black. An empty image is refused."""
    level = ink(image)
    if level.max() < 32:
        raise DemoInputError(f"the {what} is empty: draw a digit in it")
    rows, cols = np.nonzero(level > INK * level.max())
    crop = level[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # LANCZOS on the float image: the anti-aliased grey levels MNIST's own down-scaling gave.
    small = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.LANCZOS))
    small = np.clip(small, 0, None)
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    top, left = (FIELD - small.shape[0]) // 2, (FIELD - small.shape[1]) // 2
    field[top : top + small.shape[0], left : left + small.shape[1]] = small
    cy, cx = ndimage.center_of_mass(field)
    field = ndimage.shift(field, (CENTRE - cy, CENTRE - cx), order=1, mode="constant")
    return np.clip(np.round(field * (255 / max(field.max(), 1e-6))), 0, 255).astype(np.uint8)


def read_upload(paths: list[str]) -> np.ndarray:
    """An upload: one 56x28 PNG (the pair as the model takes it), or two 28x28 PNGs (top, then bottom), read
    under the one image contract `mnistsum predict` uses (mnistsum.data.images). Returns the (56, 28) uint8 pair."""
    if len(paths) not in (1, 2):
        raise DemoInputError(f"{len(paths)} files uploaded: expected one 56x28 PNG or two 28x28 PNGs")
    size = (56, 28) if len(paths) == 1 else (28, 28)
    try:
        images = [read_grey(path, [size], name=Path(path).name) for path in paths]
    except InputError as exc:
        raise DemoInputError(str(exc)) from None
    return np.concatenate(images)


def canvas_image(value: Any) -> np.ndarray | None:
    """The drawing of a Gradio sketchpad's value (its composite), or None when nothing was drawn."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("composite")
    return None if value is None else np.asarray(value)


@dataclass
class Answer:
    """What the page shows: the predicted sum and its probability, the 19 sum probabilities and, for a model
    with digit outputs, each digit's 10 probabilities."""

    sums: np.ndarray
    top: np.ndarray | None
    bottom: np.ndarray | None

    @property
    def line(self) -> str:
        s = int(self.sums.argmax())
        text = f"sum {s}, probability {self.sums[s]:.3f}"
        if self.top is not None and self.bottom is not None:
            t, b = int(self.top.argmax()), int(self.bottom.argmax())
            text += f": digits {t} ({self.top[t]:.3f}) + {b} ({self.bottom[b]:.3f})"
        return text


def describe(uri: str) -> str:
    """Which model a URI names, as a person reads it: `mnistsum v3 (sumnet, sums)` for models:/NAME@ALIAS or
    models:/NAME/VERSION; the URI itself for anything else (runs:/, a folder)."""
    if not uri.startswith("models:/"):
        return uri
    name, _, ref = uri.removeprefix("models:/").partition("@")
    client = tracking.configure(read_only=True)
    try:
        if ref:
            version = client.get_model_version_by_alias(name, ref)
        else:
            name, _, number = name.partition("/")
            version = client.get_model_version(name, number)
    except MlflowException as exc:
        raise InputError(f"cannot find model {uri!r}: {str(exc).strip().splitlines()[0]}") from None
    tags = version.tags
    return f"{version.name} v{version.version} ({tags.get('family', '?')}, {tags.get('regime', '?')})"


class Reader:
    """A registered model, pulled through MLflow as users pull it, and what it says about one pair."""

    def __init__(self, uri: str):
        # deferred: loading the model imports TensorFlow
        from mnistsum.tracking import registry

        self.uri = uri
        self.model = registry.load_sum_model(uri)
        self.version = describe(uri)

    def read(self, pair: np.ndarray) -> Answer:
        x = pair[None].astype(np.uint8)
        if self.model.has_digits:
            sums, top, bottom = self.model.predict_digits(x)
            return Answer(sums[0], top[0], bottom[0])
        return Answer(self.model.predict_proba(x)[0], None, None)


def pair_from(top: Any, bottom: Any, upload: list[str] | None) -> np.ndarray:
    """The (56, 28) pair to read: the upload when there is one, else the two canvases through to_mnist."""
    if upload:
        return read_upload([str(p) for p in upload])
    top_image, bottom_image = canvas_image(top), canvas_image(bottom)
    if top_image is None or bottom_image is None:
        raise DemoInputError("draw a digit in both canvases (or upload a 56x28 PNG or two 28x28 PNGs)")
    return np.concatenate([to_mnist(top_image, "top canvas"), to_mnist(bottom_image, "bottom canvas")])


def bars(probabilities: np.ndarray | None, label: str) -> pd.DataFrame:
    if probabilities is None:
        return pd.DataFrame({label: [], "probability": []})
    return pd.DataFrame({label: [str(i) for i in range(len(probabilities))], "probability": probabilities})


def app(reader: Reader):
    """The page: two canvases and an upload in, the answer out."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # read when gradio is imported: no telemetry
    import gradio as gr  # deferred: slow to import, and only this command serves a page

    def answer(top, bottom, upload):
        try:
            pair = pair_from(top, bottom, upload)
        except InputError as exc:
            empty = bars(None, "sum")
            return f"**error:** {exc}", None, empty, bars(None, "digit"), bars(None, "digit")
        result = reader.read(pair)
        return (
            f"### {result.line}",
            np.kron(pair, np.ones((VIEW, VIEW), dtype=np.uint8)),  # scaled up, so the pixels can be seen
            bars(result.sums, "sum"),
            bars(result.top, "digit"),
            bars(result.bottom, "digit"),
        )

    brush = gr.Brush(default_size=16, colors=["#000000"], color_mode="fixed")
    with gr.Blocks(title="mnistsum: the sum of two handwritten digits", analytics_enabled=False) as page:
        gr.Markdown(
            f"# Draw two digits, get their sum\nModel: **{reader.version}**. Draw one digit in each canvas "
            "(or upload one 56x28 PNG, or two 28x28 PNGs), then press **Read**."
        )
        with gr.Row():
            top, bottom = (
                gr.Sketchpad(
                    label=f"{where} digit", canvas_size=(CANVAS, CANVAS), brush=brush, layers=False, elem_id=where
                )
                for where in ("top", "bottom")
            )
            upload = gr.File(label="or upload PNGs", file_count="multiple", file_types=[".png"], elem_id="upload")
        read = gr.Button("Read", variant="primary", elem_id="read")
        result = gr.Markdown(elem_id="answer")
        with gr.Row():
            seen = gr.Image(label="what the model sees (56x28, shown 5x)", image_mode="L", elem_id="seen")
            sums = gr.BarPlot(
                x="sum", y="probability", title="sum probabilities", y_lim=[0, 1], sort=SUMS, elem_id="sums"
            )
        with gr.Row(visible=reader.model.has_digits):
            top_bars, bottom_bars = (
                gr.BarPlot(x="digit", y="probability", title=f"{where} digit", y_lim=[0, 1], sort=DIGITS)
                for where in ("top", "bottom")
            )
        read.click(
            answer,
            [top, bottom, upload],
            [result, seen, sums, top_bars, bottom_bars],
            api_name="read",
        )
    return page


def theme():
    """Gradio's default look with the system's fonts: its own theme fetches fonts from the internet."""
    import gradio as gr  # deferred, as in app()

    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def serve(uri: str, host: str, port: int) -> None:
    reader = Reader(uri)
    page = app(reader)
    print(f"demo of {reader.version} on http://{host}:{port}", flush=True)
    # An upload is one or two PNGs of a few hundred bytes: anything over MAX_UPLOAD is refused by Gradio itself.
    page.launch(server_name=host, server_port=port, share=False, theme=theme(), quiet=True, max_file_size=MAX_UPLOAD)
