"""The registered model's code and the one input contract every entry point shares.

This file is logged with the model (MLflow models-from-code), so it must stand alone: it imports numpy,
keras and mlflow, never `mnistsum`. A pulled model therefore loads where mnistsum is not installed.

Input contract (`model_input`), the same for `mnistsum predict`, the pyfunc and the served model:
- uint8 pixels of shape (n, 56, 28): 56 rows x 28 columns, top digit in rows 0-27;
- floats in [0, 1] of shape (n, 56, 28) or (n, 1568).
Anything else is refused with one line that says what was found and what was expected; nothing is cast.
JSON bodies of the served model arrive as Python numbers: integers are pixels (0-255), floats are [0, 1].
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np

ROWS, COLS = 56, 28
FLAT = ROWS * COLS
SHAPE_TEXT = "(n, 56, 28): 56 rows x 28 columns"
EXPECTED = f"uint8 pixels {SHAPE_TEXT}, or floats in [0, 1] of shape (n, 56, 28) or (n, {FLAT})"


class PixelError(ValueError):
    """Input outside the contract; the message is one line naming what was found and what was expected."""


def model_input(x: Any, source: str = "input") -> np.ndarray:
    """Validate x against the contract and return the network's input: (n, 1568) float32 in [0, 1]."""
    if hasattr(x, "to_numpy"):  # a pandas DataFrame from a pyfunc caller
        x = x.to_numpy()
    x = np.asarray(x)
    if x.dtype == object:
        x = _from_json_numbers(x, source)
    shape = tuple(x.shape)
    if x.ndim not in (2, 3) or (x.ndim == 3 and shape[1:] != (ROWS, COLS)) or (x.ndim == 2 and shape[1] != FLAT):
        raise PixelError(f"{source}: shape {shape}, expected {EXPECTED}")
    if shape[0] == 0:
        raise PixelError(f"{source}: no images (shape {shape}); expected at least one, {EXPECTED}")
    if x.dtype == np.uint8:
        if x.ndim != 3:
            raise PixelError(f"{source}: uint8 of shape {shape}; expected uint8 pixels {SHAPE_TEXT} "
                             f"(flat (n, {FLAT}) input must be floats in [0, 1])")
        return x.reshape(len(x), FLAT).astype(np.float32) / 255.0
    if not np.issubdtype(x.dtype, np.floating):
        raise PixelError(f"{source}: dtype {x.dtype}, expected {EXPECTED}")
    if not np.isfinite(x).all():
        raise PixelError(f"{source}: {int((~np.isfinite(x)).sum())} NaN or infinite values; expected {EXPECTED}")
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 1:
        raise PixelError(f"{source}: {x.dtype} values in [{low:g}, {high:g}], expected floats in [0, 1] "
                         f"(or uint8 pixels 0-255)")
    return x.reshape(len(x), FLAT).astype(np.float32)


def _from_json_numbers(x: np.ndarray, source: str) -> np.ndarray:
    """Numbers as JSON delivers them (the served model parses its body into Python objects, so no cast happens
    before this check): all integers are pixels, which must lie in 0-255; numbers with any float among them
    are floats, which must lie in [0, 1]. Anything else (strings, booleans, None, ragged rows) is refused."""
    items = x.ravel().tolist()
    kinds = {type(v) for v in items}
    if kinds <= {int}:
        ints = np.asarray(items, dtype=np.int64).reshape(x.shape) if items else np.zeros(x.shape, np.uint8)
        if items and (ints.min() < 0 or ints.max() > 255):
            raise PixelError(f"{source}: integer pixels in [{ints.min()}, {ints.max()}], expected 0-255 "
                             f"(or floats in [0, 1])")
        return ints.astype(np.uint8)
    if kinds <= {int, float}:
        return np.asarray(items, dtype=np.float64).reshape(x.shape)
    names = ", ".join(sorted(k.__name__ for k in kinds - {int, float}))
    raise PixelError(f"{source}: values of type {names}, expected {EXPECTED}")


class _Quiet:
    """MLflow warns at class creation that predict() lacks type hints, and resets the warning filters while
    it does; only swapping the display function (restored on exit) keeps that off a user's terminal."""

    def __enter__(self) -> None:
        import warnings

        self.show, warnings.showwarning = warnings.showwarning, lambda *args, **kwargs: None

    def __exit__(self, *exc: Any) -> None:
        import warnings

        warnings.showwarning = self.show


with _Quiet():
    class SumModel(mlflow.pyfunc.PythonModel):
        """Pixels in, predicted sums out; `predict_proba` gives the 19 sum probabilities."""

        def load_context(self, context: Any) -> None:
            import keras

            self.keras_model = keras.models.load_model(context.artifacts["keras_model"], compile=False)

        def predict_proba(self, x: Any, source: str = "input") -> np.ndarray:
            return np.asarray(self.keras_model.predict(model_input(x, source), batch_size=2048, verbose=0))

        # No type hints: MLflow would derive a conflicting schema from them; the signature is logged explicitly.
        def predict(self, context, model_input, params=None):
            return self.predict_proba(model_input).argmax(axis=1).astype(np.int64)


mlflow.models.set_model(SumModel())
