"""The registered model's code and the one input contract every entry point shares.

This file is logged with the model (MLflow models-from-code), so it must stand alone: it imports numpy,
keras and mlflow, never `mnistsum`. A pulled model therefore loads where mnistsum is not installed. It also
holds the one sum-of-two-digits convolution (`sum_distribution`, and the `DigitSum` layer of the sumnet), so
the layer a pulled sumnet needs travels with it.

Input contract (`model_input`), the same for `mnistsum predict`, the pyfunc and the served model:
- uint8 pixels of shape (n, 56, 28): 56 rows x 28 columns, top digit in rows 0-27;
- floats in [0, 1] of shape (n, 56, 28) or (n, 1568).
Anything else is refused with one line that says what was found and what was expected; nothing is cast.
JSON bodies of the served model arrive as Python numbers: integers are pixels (0-255), floats are [0, 1].
The served model's one input is named `pixels`, so MLflow hands it over as {"pixels": array}; the name is
what lets an empty list reach the contract (MLflow reads an unnamed `[]` as an empty list of records and
refuses it with its own schema message).
"""

from __future__ import annotations

import warnings
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

ROWS, COLS = 56, 28
FLAT = ROWS * COLS
SHAPE_TEXT = "(n, 56, 28): 56 rows x 28 columns"
INPUT_NAME = "pixels"
EXPECTED = f"uint8 pixels {SHAPE_TEXT}, or floats in [0, 1] of shape (n, 56, 28) or (n, {FLAT})"


class Refusal(MlflowException, ValueError):
    """Input the model refuses, in one line. Served, it is an HTTP 400 whose JSON `message` is exactly that line:
    MLflow's scoring server passes an MlflowException on as its response, but first rewrites its `message` to
    prefix the whole request body, so this one keeps its own line (and carries no stack trace)."""

    def __init__(self, line: str):
        self._line = line
        super().__init__(line, error_code=INVALID_PARAMETER_VALUE)

    message = property(lambda self: self._line, lambda self, _rewritten: None)


class PixelError(Refusal):
    """Input outside the contract; the message is one line naming what was found and what was expected."""


def model_input(x: Any, source: str = "input") -> np.ndarray:
    """Validate x against the contract and return every network's input: raw pixels as (n, 56, 28) float32 in
    0-255 (the networks scale and reshape inside their graphs)."""
    if isinstance(x, dict):  # the served model's named input: {"pixels": ...}
        if set(x) != {INPUT_NAME}:
            raise PixelError(
                f"{source}: keys {sorted(map(str, x))}, expected {{'{INPUT_NAME}': pixels}} "
                f"or the pixels alone, {EXPECTED}"
            )
        x = x[INPUT_NAME]
    if hasattr(x, "to_numpy"):  # a pandas DataFrame from a pyfunc caller
        x = x.to_numpy()
    x = np.asarray(x)
    if x.dtype == object:
        x = _from_json_numbers(x, source)
    shape = tuple(x.shape)
    if x.ndim >= 1 and shape[0] == 0:
        raise PixelError(f"{source}: no images (shape {shape}); expected at least one, {EXPECTED}")
    if x.ndim not in (2, 3) or (x.ndim == 3 and shape[1:] != (ROWS, COLS)) or (x.ndim == 2 and shape[1] != FLAT):
        raise PixelError(f"{source}: shape {shape}, expected {EXPECTED}")
    if x.dtype == np.uint8:
        if x.ndim != 3:
            raise PixelError(
                f"{source}: uint8 of shape {shape}; expected uint8 pixels {SHAPE_TEXT} "
                f"(flat (n, {FLAT}) input must be floats in [0, 1])"
            )
        # Pixels 0 and 1 only: a binarised image sent as integers (JSON writes 0.0 and 1.0 as 0 and 1), which
        # read as pixels would be near-black; refused rather than answered.
        binary = np.flatnonzero(x.reshape(len(x), -1).max(axis=1) == 1)
        if binary.size:
            raise PixelError(
                f"{source}: image {binary[0]} of {len(x)} holds only pixels 0 and 1 (a binarised image "
                f"as integers?), expected uint8 pixels 0-255 or floats in [0, 1]"
            )
        return _readable(x.astype(np.float32), source)
    if not np.issubdtype(x.dtype, np.floating):
        raise PixelError(f"{source}: dtype {x.dtype}, expected {EXPECTED}")
    if not np.isfinite(x).all():
        raise PixelError(f"{source}: {int((~np.isfinite(x)).sum())} NaN or infinite values; expected {EXPECTED}")
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 1:
        raise PixelError(
            f"{source}: {x.dtype} values in [{low:g}, {high:g}], expected floats in [0, 1] (or uint8 pixels 0-255)"
        )
    return _readable(x.reshape(len(x), ROWS, COLS).astype(np.float32) * np.float32(255.0), source)


def _readable(x: np.ndarray, source: str) -> np.ndarray:
    """Refuse an image of one grey level: there is nothing to read, and a network would still answer it."""
    flat = x.reshape(len(x), -1)
    blank = np.flatnonzero(flat.min(axis=1) == flat.max(axis=1))
    if blank.size:
        i = int(blank[0])
        raise PixelError(
            f"{source}: image {i} of {len(x)} is blank (every pixel {flat[i, 0]:g} of 255): nothing to read, {EXPECTED}"
        )
    return x


def _from_json_numbers(x: np.ndarray, source: str) -> np.ndarray:
    """Numbers as JSON delivers them (the served model parses its body into Python objects, so no cast happens
    before this check): all integers are pixels, which must lie in 0-255; numbers with any float among them
    are floats, which must lie in [0, 1]. Anything else (strings, booleans, None, ragged rows) is refused."""
    items = x.ravel().tolist()
    kinds = {type(v) for v in items}
    if kinds <= {int}:
        ints = np.asarray(items, dtype=np.int64).reshape(x.shape) if items else np.zeros(x.shape, np.uint8)
        if items and (ints.min() < 0 or ints.max() > 255):
            raise PixelError(
                f"{source}: integer pixels in [{ints.min()}, {ints.max()}], expected 0-255 (or floats in [0, 1])"
            )
        return ints.astype(np.uint8)
    if kinds <= {int, float}:
        return np.asarray(items, dtype=np.float64).reshape(x.shape)
    if list in kinds:  # numpy stops at the first level whose rows differ in length
        raise PixelError(f"{source}: rows of unequal length (shape {x.shape} before them), expected {EXPECTED}")
    names = ", ".join(sorted(k.__name__ for k in kinds - {int, float}))
    raise PixelError(f"{source}: values of type {names}, expected {EXPECTED}")


class _Quiet:
    """MLflow warns at class creation that predict() lacks type hints, and resets the warning filters while
    it does; only swapping the display function (restored on exit) keeps that off a user's terminal."""

    def __enter__(self) -> None:
        self.show, warnings.showwarning = warnings.showwarning, lambda *args, **kwargs: None

    def __exit__(self, *exc: Any) -> None:
        warnings.showwarning = self.show


# SUM_MASK[i, j, s] = 1 where i + j = s: contracting the outer product of two digit distributions with it sums
# every anti-diagonal, which is exactly the discrete convolution.
SUM_MASK = np.zeros((10, 10, 19), np.float32)
for _i in range(10):
    SUM_MASK[_i, np.arange(10), _i + np.arange(10)] = 1.0


def sum_distribution(p_top: Any, p_bottom: Any) -> Any:
    """P(sum = s) = sum over i + j = s of P_top(i) P_bottom(j), row by row: (n, 10) x (n, 10) -> (n, 19).
    Written in keras.ops so the sumnet trains through it; numpy in, a backend tensor out
    (keras.ops.convert_to_numpy turns it back)."""
    import keras  # deferred: validating input (this module's other job) must not import TensorFlow

    a = keras.ops.convert_to_tensor(p_top)
    dtype = keras.backend.standardize_dtype(a.dtype)
    b = keras.ops.convert_to_tensor(p_bottom, dtype=dtype)
    return keras.ops.einsum("bi,bj,ijs->bs", a, b, keras.ops.convert_to_tensor(SUM_MASK, dtype=dtype))


_DIGIT_SUM = None


def digit_sum_layer() -> type:
    """The Keras layer around `sum_distribution`, made on first use so that validating input never imports
    TensorFlow. Registered under 'mnistsum>DigitSum', the name a saved sumnet refers to."""
    global _DIGIT_SUM
    if _DIGIT_SUM is None:
        import keras  # deferred, as above

        class DigitSum(keras.layers.Layer):
            """Two (n, 10) digit distributions in, their (n, 19) sum distribution out; no weights."""

            def call(self, p_top, p_bottom):
                return sum_distribution(p_top, p_bottom)

            def compute_output_shape(self, p_top_shape, p_bottom_shape):
                return (p_top_shape[0], 19)

        _DIGIT_SUM = keras.saving.register_keras_serializable(package="mnistsum")(DigitSum)
    return _DIGIT_SUM


DIGIT_LAYERS = ("top_digit", "bottom_digit")  # a sumnet's two digit distributions, by layer name


class DigitsUnavailable(Refusal):
    """The model has no digit outputs (only a sumnet has them)."""


with _Quiet():

    class SumModel(mlflow.pyfunc.PythonModel):
        """Pixels in, predicted sums out; `predict_proba` gives the 19 sum probabilities. For a model with digit
        outputs (the sumnet), `predict(..., params={"digits": True})` returns both digits with their probabilities,
        and `predict_digits` gives the three distributions."""

        def load_context(self, context: Any) -> None:
            import keras  # deferred, as above

            self.keras_model = keras.models.load_model(
                context.artifacts["keras_model"], compile=False, custom_objects={"DigitSum": digit_sum_layer()}
            )
            names = {layer.name for layer in self.keras_model.layers}
            self.digit_model = None
            if set(DIGIT_LAYERS) <= names:
                m = self.keras_model
                self.digit_model = keras.Model(m.inputs, [m.outputs[0]] + [m.get_layer(n).output for n in DIGIT_LAYERS])

        @property
        def has_digits(self) -> bool:
            return self.digit_model is not None

        def predict_proba(self, x: Any, source: str = "input") -> np.ndarray:
            return np.asarray(self.keras_model.predict(model_input(x, source), batch_size=2048, verbose=0))

        def predict_digits(self, x: Any, source: str = "input") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """(sum probabilities (n, 19), top digit (n, 10), bottom digit (n, 10))."""
            if self.digit_model is None:
                raise DigitsUnavailable(
                    "this model has no digit outputs (only the sumnet family has them); "
                    "predict without params={'digits': True}"
                )
            out = self.digit_model.predict(model_input(x, source), batch_size=2048, verbose=0)
            return tuple(np.asarray(o) for o in out)

        # No type hints: MLflow would derive a conflicting schema from them; the signature is logged explicitly.
        def predict(self, context, model_input, params=None):
            if not (params or {}).get("digits"):
                return self.predict_proba(model_input).argmax(axis=1).astype(np.int64)
            sums, top, bottom = self.predict_digits(model_input)
            return pd.DataFrame(
                {
                    "sum": sums.argmax(axis=1),
                    "sum_probability": sums.max(axis=1),
                    "top": top.argmax(axis=1),
                    "top_probability": top.max(axis=1),
                    "bottom": bottom.argmax(axis=1),
                    "bottom_probability": bottom.max(axis=1),
                }
            )


mlflow.models.set_model(SumModel())
