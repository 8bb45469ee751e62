"""The MLflow Model Registry: log a trained network as a self-contained pyfunc, register it, and move the
alias only to a model that is better on the same validation pairs.

The pyfunc is logged from code (`mnistsum/models/served.py`, which never imports mnistsum), with the Keras
model as its one artifact, an explicit signature and input example, and requirements that name the
TensorFlow version rather than a platform-specific distribution. So `models:/NAME@ALIAS` loads with
nothing but its own requirements.txt installed.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from filelock import FileLock
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ParamSchema, ParamSpec, Schema, TensorSpec

from mnistsum import tracking
from mnistsum.errors import InputError
from mnistsum.models import served
from mnistsum.tracking.card import model_card

# The input is declared as objects of any shape on purpose: a uint8 spec makes MLflow's server cast a JSON body
# to uint8 (300 wraps to 44, 0.5 becomes 0) before the model can refuse it, and would shut out the float form.
# The contract itself (served.model_input) checks shape, dtype and range; the input example shows the form.
# The input is named (served.INPUT_NAME) so that MLflow passes even an empty list on to that check; bodies stay
# {"inputs": [...]} (or {"inputs": {"pixels": [...]}}).
# The `digits` param (sumnet only) makes predict return both digits with their probabilities beside the sum.
SIGNATURE = ModelSignature(
    inputs=Schema([TensorSpec(np.dtype(object), (-1,), name=served.INPUT_NAME)]),
    outputs=Schema([TensorSpec(np.dtype(np.int64), (-1,))]),
    params=ParamSchema([ParamSpec("digits", "boolean", False)]),
)


class RegistryError(InputError):
    """The registry could not be read or written: never taken to mean 'no champion yet'."""


def requirements() -> list[str]:
    """What the pulled model needs. `tensorflow==X` (not a CPU-only or CUDA-only distribution) lets pip
    pick the wheel the loading platform needs; versions are read from the modules, not package names.
    Explicit requirements also skip MLflow's slow inference of them (about 10 s -> 1 s)."""
    import keras  # deferred: reading the registry (predict, promote) must not import TensorFlow
    import tensorflow as tf

    return [
        f"mlflow=={mlflow.__version__}",
        f"tensorflow=={tf.__version__}",
        f"keras=={keras.__version__}",
        f"numpy=={np.__version__}",
    ]


def params_digest(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def log_model(model: Any, example: np.ndarray, card: str | None = None) -> str:
    """Log `model` (Keras) in the active run as the pyfunc `model`, with its model card beside the network;
    returns its model URI."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        artifacts = {"keras_model": str(path)}
        if card is not None:
            (Path(tmp) / "model_card.md").write_text(card)
            artifacts["model_card"] = str(Path(tmp) / "model_card.md")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=served.__file__,
            artifacts=artifacts,
            signature=SIGNATURE,
            input_example=np.ascontiguousarray(example[:2]),
            pip_requirements=requirements(),
        )
    return info.model_uri


def log_and_register(
    model: Any,
    run_id: str,
    names: Sequence[str],
    alias: str,
    val_accuracy: float,
    *,
    val_x: np.ndarray,
    val_y: np.ndarray,
    data_ids: dict[str, str],
    params: dict[str, Any],
    family: str,
    regime: str,
    metrics: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Log the pyfunc once (with its model card), register it as a new version of each of `names` (the family's
    own name first, then the cross-family one), tagged with its family, training regime, the data it was
    evaluated on and its params, the card as its description; under each name, promote it if it beats that
    name's champion on the same validation pairs."""
    card = model_card(
        family=family,
        regime=regime,
        run_id=run_id,
        metrics={"val_accuracy": val_accuracy} | (metrics or {}),
        data_ids=data_ids,
        params=params,
        names=list(names),
    )
    uri = log_model(model, val_x, card)
    client = tracking.configure()
    tags = {
        "val_accuracy": f"{val_accuracy:.6f}",
        "run_id": run_id,
        "family": family,
        "regime": regime,
        "data.val_sha256": data_ids["val"],
        "data.train_sha256": data_ids["train"],
        "params.sha256": params_digest(params),
        "params": json.dumps(params, sort_keys=True, default=str)[:5000],
    }
    results, run_tags = [], {}
    for i, name in enumerate(names):
        try:
            mv = mlflow.register_model(uri, name, tags=tags)
        except MlflowException as exc:
            raise RegistryError(f"cannot register {name!r} at {tracking.tracking_uri()}: {_first_line(exc)}") from None
        client.update_model_version(name, mv.version, description=card)
        decision = promote(name, alias, mv.version, val_x, val_y)
        # The family's own name keeps the plain tags; every other name's are prefixed with it.
        prefix = "registry" if i == 0 else f"registry.{name}"
        run_tags |= {
            f"{prefix}.model": name,
            f"{prefix}.version": mv.version,
            f"{prefix}.alias_action": decision["alias_action"],
            f"{prefix}.champion": str(decision["promoted"]).lower(),
        }
        results.append({"name": name, "version": int(mv.version), "alias": alias, **decision})
    tracking.log_tags(run_id, run_tags | {"regime": regime})
    return results


@contextlib.contextmanager
def registry_lock(timeout: float = 600) -> Iterator[None]:
    """Serialise registry decisions (alias moves) between processes on this machine.

    Keyed by the tracking URI; a SQLite store keeps the lock beside its database."""
    uri = tracking.tracking_uri()
    folder = tracking.sqlite_dir(uri)
    if folder is not None:
        path = folder / ".registry.lock"
    else:
        path = Path(tempfile.gettempdir()) / f"mnistsum-registry-{hashlib.sha256(uri.encode()).hexdigest()[:16]}.lock"
    with FileLock(str(path), timeout=timeout):
        yield


def promote(
    name: str, alias: str, version: str | int, val_x: np.ndarray | None = None, val_y: np.ndarray | None = None
) -> dict[str, Any]:
    """Point `alias` at `version` if it beats the current holder on the same validation set.

    When the champion was evaluated on other data, it is evaluated on this version's validation pairs
    first (which needs val_x, val_y). The decision runs under a lock, so two runs finishing at once are
    decided one after the other: the second compares against whatever the first left."""
    client = tracking.configure()
    with registry_lock():
        mine = client.get_model_version(name, str(version))
        my_acc, my_data = float(mine.tags["val_accuracy"]), mine.tags.get("data.val_sha256")
        current = champion(name, alias)
        if current is None:
            client.set_registered_model_alias(name, alias, mine.version)
            return {"promoted": True, "alias_action": "promoted", "champion_val_accuracy": None}
        if current.version == mine.version:
            return {"promoted": True, "alias_action": "already champion", "champion_val_accuracy": my_acc}
        if current.tags.get("data.val_sha256") == my_data:
            theirs, how = float(current.tags["val_accuracy"]), "same validation pairs"
        else:
            if val_x is None or val_y is None:
                raise RegistryError(
                    f"{name} v{current.version} was evaluated on other data; "
                    "its validation pairs are needed to compare fairly"
                )
            try:
                theirs, how = (
                    evaluate_version(name, current.version, val_x, val_y),
                    "champion re-evaluated on these pairs",
                )
            except ChampionUnloadable as exc:
                # A champion nobody can load serves no one: the new version, which just loaded and scored, replaces it.
                client.set_model_version_tag(name, mine.version, "champion_compared", str(exc))
                client.set_registered_model_alias(name, alias, mine.version)
                return {
                    "promoted": True,
                    "alias_action": f"promoted over v{current.version} ({exc})",
                    "champion_val_accuracy": None,
                }
            client.set_model_version_tag(
                name,
                mine.version,
                "champion_compared",
                f"v{current.version} val_accuracy {theirs:.6f} on this version's pairs",
            )
        if my_acc > theirs:
            client.set_registered_model_alias(name, alias, mine.version)
            action = f"promoted over v{current.version} ({my_acc:.4f} > {theirs:.4f}, {how})"
        else:
            action = f"kept v{current.version} ({theirs:.4f} >= {my_acc:.4f}, {how})"
        return {"promoted": action.startswith("promoted"), "alias_action": action, "champion_val_accuracy": theirs}


class ChampionUnloadable(Exception):
    """The current champion's artifacts cannot be loaded (deleted, or written by an incompatible version)."""


def evaluate_version(name: str, version: str | int, x: np.ndarray, y: np.ndarray) -> float:
    try:
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    except Exception as exc:  # MLflow, OS and deserialisation errors alike: it cannot be scored
        raise ChampionUnloadable(f"v{version} could not be loaded to re-score it: {_first_line(exc)[:200]}") from None
    return float((np.asarray(model.predict(x)) == np.asarray(y)).mean())


def champion(name: str, alias: str):
    """The version holding `alias`, or None when the model or alias does not exist yet. Any other failure
    (a store or server that cannot be reached) is a RegistryError, never 'no champion'."""
    try:
        return tracking.configure().get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise RegistryError(f"model registry at {tracking.tracking_uri()} failed: {_first_line(exc)}") from None
    except Exception as exc:  # connection errors surface as requests/OS errors
        raise RegistryError(f"model registry at {tracking.tracking_uri()} unreachable: {_first_line(exc)}") from None


def load_sum_model(uri: str):
    """Load a registered (or runs:/) pyfunc sum model; unknown names or aliases give an InputError."""
    return load_pyfunc(uri).unwrap_python_model()


def load_pyfunc(uri: str) -> mlflow.pyfunc.PyFuncModel:
    """The pyfunc model at a models:/, runs:/ or local URI; one that cannot load is an InputError."""
    copy = None
    if uri.startswith(("models:/", "runs:/")):
        tracking.configure(read_only=True)
        # Loaded from a copy: given no folder, MLflow loads a local store's model in place and writes a
        # registered_model_meta file into the store's artifacts, so a reader would need a writable store.
        copy = tempfile.mkdtemp(prefix="mnistsum-model-")
        atexit.register(shutil.rmtree, copy, ignore_errors=True)
    try:
        return mlflow.pyfunc.load_model(uri, dst_path=copy)
    except MlflowException as exc:
        raise InputError(f"cannot load model {uri!r}: {_first_line(exc)}") from None
    except OSError as exc:
        raise InputError(f"cannot load model {uri!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt model file fails in Keras or zipfile in many ways
        raise InputError(f"cannot load model {uri!r}: {type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
