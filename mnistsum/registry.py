"""The MLflow Model Registry: log the final network, register it, and move the alias only to a better model.

Two flavours are logged with the final run: `keras_model` (mlflow.keras, with a signature, for users who
want the raw 19-way softmax or the embedding) and `model`, a pyfunc wrapper that takes (n, 56, 28) uint8
pixels or (n, 1568) floats and returns the predicted sums. `model` is the registered one.
"""

from __future__ import annotations

import tempfile
import warnings
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from mnistsum import tracking
from mnistsum.errors import InputError


# MLflow warns at class creation that predict() lacks list[...] type hints; inputs here are arrays,
# validated by as_model_input, so the warning only adds noise. MLflow resets the warning filters inside
# that hook, so only replacing the display function (restored on exit) keeps it off the terminal.
with warnings.catch_warnings():
    warnings.showwarning = lambda *args, **kwargs: None

    class SumModel(mlflow.pyfunc.PythonModel):
        """pyfunc face of the network: pixels in, predicted sums out (predict_proba for the 19 probabilities)."""

        def load_context(self, context: Any) -> None:
            import keras

            self.keras_model = keras.models.load_model(context.artifacts["keras_model"])

        def predict_proba(self, model_input: Any) -> np.ndarray:
            from mnistsum.nn import as_model_input

            return np.asarray(self.keras_model.predict(as_model_input(model_input), batch_size=2048, verbose=0))

        # No type hints here: MLflow would try (and fail) to derive a schema from them.
        def predict(self, context, model_input, params=None):
            return self.predict_proba(model_input).argmax(axis=1)


def _requirements() -> list[str]:
    # Explicit requirements skip MLflow's slow inference of them (about 10 s -> 1 s).
    return [f"{p}=={pkg_version(p)}" for p in ("tensorflow-cpu", "keras", "mlflow", "numpy")]


def log_and_register(model: Any, run_id: str, name: str, alias: str, val_accuracy: float) -> dict[str, Any]:
    """Log both flavours in the active run, register `model` as a new version of `name`, and point
    `alias` at it only if it beats the current holder on validation accuracy."""
    import mlflow.keras

    from mnistsum.nn import INPUT_DIM

    sample = np.zeros((2, INPUT_DIM), dtype=np.float32)
    signature = infer_signature(sample, np.asarray(model.predict(sample, verbose=0)))
    mlflow.keras.log_model(model, name="keras_model", signature=signature, pip_requirements=_requirements())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        info = mlflow.pyfunc.log_model(name="model", python_model=SumModel(), artifacts={"keras_model": str(path)},
                                       pip_requirements=_requirements())
    client = tracking.configure()
    mv = mlflow.register_model(info.model_uri, name, tags={"val_accuracy": f"{val_accuracy:.6f}", "run_id": run_id})
    current = champion(name, alias)
    if current is None or val_accuracy > float(current.tags.get("val_accuracy", "-inf")):
        client.set_registered_model_alias(name, alias, mv.version)
        action = "promoted" if current is None else f"promoted over v{current.version}"
    else:
        action = f"kept v{current.version} (val_accuracy {float(current.tags['val_accuracy']):.4f} >= {val_accuracy:.4f})"
    tracking.log_tags(run_id, {"registry.model": name, "registry.version": mv.version,
                               "registry.alias_action": action,
                               "registry.champion": "true" if action.startswith("promoted") else "false"})
    return {"name": name, "version": int(mv.version), "alias": alias, "alias_action": action}


def champion(name: str, alias: str):
    try:
        return tracking.configure().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def load_sum_model(uri: str) -> SumModel:
    """Load a registered (or runs:/) pyfunc sum model; unknown names or aliases give an InputError."""
    tracking.configure()
    try:
        return mlflow.pyfunc.load_model(uri).unwrap_python_model()
    except MlflowException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot load model {uri!r}: {first}") from None
    except OSError as exc:
        raise InputError(f"cannot load model {uri!r}: {exc}") from None
