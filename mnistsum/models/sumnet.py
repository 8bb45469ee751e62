"""The structured family: one digit encoder shared by the top and bottom 28x28 halves, each half a 10-way
digit distribution, and the sum distribution their exact convolution (served.DigitSum). It is trained on
the sum label alone, like every family; the digits are learned, never given."""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mnistsum import figures
from mnistsum.data.pairs import Pairs
from mnistsum.figures import save_figure
from mnistsum.metrics import confusion
from mnistsum.models.addition import carry_loss
from mnistsum.models.parts import Embedding, compile_sum_model, conv_trunk, pixels_input, predict
from mnistsum.models.served import DIGIT_LAYERS, digit_sum_layer
from mnistsum.models.specs import SumnetSpec

CUSTOM_OBJECTS = {"DigitSum": digit_sum_layer()}
ENCODER = "digit_encoder"


def build_encoder(spec: SumnetSpec) -> keras.Model:
    """28x28x1 digit in [0, 1] -> 10 digit probabilities; its 'embedding' layer is what t-SNE maps."""
    inputs = keras.Input(shape=(28, 28, 1), name="digit")
    h = conv_trunk(inputs, spec)
    outputs = keras.layers.Dense(10, activation="softmax", name="digit_probabilities", dtype="float32")(h)
    return keras.Model(inputs, outputs, name=ENCODER)


def build(spec: SumnetSpec) -> keras.Model:
    inputs, h = pixels_input()
    h = keras.layers.Reshape((56, 28, 1), name="channel")(h)
    top = keras.layers.Cropping2D(((0, 28), (0, 0)), name="top_half")(h)
    bottom = keras.layers.Cropping2D(((28, 0), (0, 0)), name="bottom_half")(h)
    encoder = build_encoder(spec)
    # Identity layers give each half's distribution a name of its own (the encoder is called twice); the heads stay
    # float32 under mixed precision, where probabilities and their convolution would round to bfloat16's 3 digits.
    p_top = keras.layers.Identity(name=DIGIT_LAYERS[0], dtype="float32")(encoder(top))
    p_bottom = keras.layers.Identity(name=DIGIT_LAYERS[1], dtype="float32")(encoder(bottom))
    outputs = digit_sum_layer()(name="sum", dtype="float32")(p_top, p_bottom)
    return compile_sum_model(keras.Model(inputs, outputs, name="mnistsum_sumnet"), spec.learning_rate)


_VIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def digit_views(model: keras.Model) -> keras.Model:
    """Raw pairs -> (top digit probabilities, bottom digit probabilities). One view per model, kept, so that
    measuring every epoch does not trace a new predict function each time."""
    if model not in _VIEWS:
        _VIEWS[model] = keras.Model(model.inputs, [model.get_layer(name).output for name in DIGIT_LAYERS])
    return _VIEWS[model]


def digits_of(pairs_x: np.ndarray) -> np.ndarray:
    """The top digits, then the bottom digits, as the encoder takes them: (2n, 28, 28, 1) in [0, 1]."""
    x = np.asarray(pairs_x, dtype=np.float32) / 255.0
    return np.concatenate([x[:, :28], x[:, 28:]])[..., None]


def embeddings(model: keras.Model, pairs: Pairs) -> dict[str, Embedding]:
    encoder = model.get_layer(ENCODER)
    emb = keras.Model(encoder.inputs, encoder.get_layer("embedding").output)
    labels = np.concatenate([pairs.top_label, pairs.bottom_label]).astype(int)
    return {"digit embedding": Embedding(predict(emb, digits_of(pairs.x)), labels, "digit")}


def digit_accuracy(model: keras.Model, x: np.ndarray, top_label: np.ndarray, bottom_label: np.ndarray) -> float:
    """How often the encoder names each digit right, against labels it never trained on (measurement only)."""
    p_top, p_bottom = (np.asarray(p) for p in digit_views(model).predict(x, batch_size=2048, verbose=0))
    right = (p_top.argmax(1) == top_label).sum() + (p_bottom.argmax(1) == bottom_label).sum()
    return float(right / (2 * len(x)))


def measures(model: keras.Model, pairs: dict[str, Pairs]) -> dict[str, float]:
    """Digit accuracy on each split's pairs, against the hidden digit labels: the family interface's hook, run
    every epoch (validation and test) and at the end. A measurement, never fed to the loss."""
    return {
        f"{split}_digit_accuracy": digit_accuracy(model, p.x, p.top_label, p.bottom_label) for split, p in pairs.items()
    }


def report(model: keras.Model, test: Pairs, plots: Path, name: str) -> tuple[dict[str, Any], list[Path]]:
    """The encoder alone on the distinct MNIST test digits of the test pairs: accuracy and confusion matrix."""
    images, labels = test.unique_digits()
    encoder = model.get_layer(ENCODER)
    pred = predict(encoder, images[..., None].astype(np.float32) / 255.0).argmax(1)
    path = plots / f"{name}_digit_confusion.png"
    save_figure(
        figures.confusion_matrix(
            confusion(labels, pred, 10),
            f"{name}: the encoder on {len(labels):,} distinct MNIST test digits (never trained on digit labels)",
            label="digit",
        ),
        path,
    )
    return {"mnist_test_digit_accuracy": float((pred == labels).mean()), "mnist_test_digits": int(len(labels))}, [path]


class _NumbersLayer(keras.layers.Layer):
    """A layer that knows N, the digits of each number (saved with it)."""

    def __init__(self, n_digits: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.n_digits = n_digits

    def get_config(self) -> dict:
        return super().get_config() | {"n_digits": self.n_digits}


@keras.saving.register_keras_serializable(package="mnistsum")
class DigitCells(_NumbersLayer):
    """A 56 x 28N grid of two N-digit numbers -> its 2N digit cells, (m * 2 * N, 28, 28, 1), row by row."""

    def call(self, x):
        cells = keras.ops.reshape(x, (-1, 2, 28, self.n_digits, 28))
        return keras.ops.reshape(keras.ops.transpose(cells, (0, 1, 3, 2, 4)), (-1, 28, 28, 1))

    def compute_output_shape(self, shape):
        return (None, 28, 28, 1)


@keras.saving.register_keras_serializable(package="mnistsum")
class NumberDigits(_NumbersLayer):
    """The cells' (m * 2 * N, 10) digit probabilities back into (m, 2, N, 10): two numbers of N digits each."""

    def call(self, p):
        return keras.ops.reshape(p, (-1, 2, self.n_digits, 10))

    def compute_output_shape(self, shape):
        return (None, 2, self.n_digits, 10)


def build_numbers(spec: SumnetSpec, n_digits: int) -> keras.Model:
    """The sumnet for two N-digit numbers: the same digit encoder on every one of the 2N cells of a 56 x 28N
    image, out (m, 2, N, 10) digit probabilities (most significant first); trained through the exact carry
    recursion (mnistsum.models.addition.carry_loss) on the integer sum alone."""
    inputs = keras.Input(shape=(56, 28 * n_digits), name="pixels")
    h = keras.layers.Rescaling(1 / 255, name="scale")(inputs)
    cells = DigitCells(n_digits, name="cells")(h)
    probabilities = build_encoder(spec)(cells)
    outputs = NumberDigits(n_digits, name="digits")(probabilities)
    model = keras.Model(inputs, outputs, name="mnistsum_numbers")
    model.compile(optimizer=keras.optimizers.Adam(spec.learning_rate), loss=carry_loss)
    return model
