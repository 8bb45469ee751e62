"""Model families. Each family is one module with the same small interface:

- a spec class (keras-free, so params validation never imports TensorFlow), registered by its `family` name;
- `build(spec) -> keras.Model`: compiled, taking raw (n, 56, 28) pixels (0-255), scaling and reshaping in-graph,
  ending in the 19 sum probabilities; the model is named `mnistsum_<family>`;
- `embeddings(model, pairs) -> {name: Embedding}`: what t-SNE maps, with the labels to colour it by;
- `CUSTOM_OBJECTS`: what `keras.models.load_model` needs besides Keras' own layers;
- optionally `measures(model, pairs) -> {name: value}`: what only this family measures on each split of
  `pairs` (the sumnet's digit accuracy), every epoch and at the end; measurement only, never fed to the loss;
- optionally `report(model, test, plots, name) -> (metrics, figure paths)`: the family's own end-of-training
  report on the test pairs (the sumnet's encoder on the distinct MNIST test digits).

Training, early stopping, tracking, the registry, t-SNE and every stage use only this interface: a new family is
its module plus `register(SpecClass, "package.module")`, and no stage names a family.
"""

from __future__ import annotations

import importlib
import json
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

from mnistsum.errors import InputError
from mnistsum.files import read_json
from mnistsum.models.specs import SPECS, AnySpec, BaseSpec, Spec, register_spec, spec_from_dict

__all__ = [
    "AnySpec",
    "Spec",
    "build",
    "embeddings",
    "families",
    "family",
    "family_of",
    "load",
    "measures",
    "read_spec",
    "register",
    "report",
    "spec_from_dict",
]

# Where each family's module lives, by family name.
MODULES: dict[str, str] = {name: f"mnistsum.models.{name}" for name in ("mlp", "cnn", "sumnet")}  # BUILT_IN


def register(spec_class: type[BaseSpec], module: str) -> None:
    """Plug a family in: its spec class (for params and saved configs) and the module implementing it."""
    register_spec(spec_class)
    MODULES[spec_class.model_fields["family"].default] = module


BUILT_IN = ("mlp", "cnn", "sumnet")


def plugins() -> list[tuple[type[BaseSpec], str]]:
    """The families plugged in beyond the built-in ones, as register() took them: what a worker process (which
    starts fresh) registers again to train them."""
    return [(SPECS[name], module) for name, module in MODULES.items() if name not in BUILT_IN]


def register_all(plugged: list[tuple[type[BaseSpec], str]]) -> None:
    for spec_class, module in plugged:
        register(spec_class, module)


def families() -> tuple[str, ...]:
    return tuple(MODULES)


def family(spec_or_name: Spec | str) -> ModuleType:
    name = spec_or_name if isinstance(spec_or_name, str) else spec_or_name.family
    if name not in MODULES or name not in SPECS:
        raise ValueError(f"unknown model family {name!r}; expected one of {', '.join(MODULES)}")
    return importlib.import_module(MODULES[name])


def build(spec: Spec):
    return family(spec).build(spec)


def family_of(model) -> str:
    """The family a built or loaded Keras model belongs to: every family names its model `mnistsum_<family>`."""
    name = model.name.removeprefix("mnistsum_")
    if name not in MODULES:
        raise ValueError(f"model {model.name!r} is not one of mnistsum's families ({', '.join(MODULES)})")
    return name


def embeddings(model, pairs) -> dict:
    """What t-SNE maps for this model: {name: Embedding(points, labels, label_name)}."""
    return family(family_of(model)).embeddings(model, pairs)


def measures(model, pairs: dict[str, Any]) -> dict[str, float]:
    """The family's own measurements on each split given (none for most families)."""
    hook = getattr(family(family_of(model)), "measures", None)
    return hook(model, pairs) if hook else {}


def report(model, test, plots: Path, name: str) -> tuple[dict[str, Any], list[Path]]:
    """The family's own end-of-training report on the test pairs (nothing for most families)."""
    hook = getattr(family(family_of(model)), "report", None)
    return hook(model, test, plots, name) if hook else ({}, [])


def saved_family(path: str | Path) -> str:
    """The family of a saved .keras file, read from its config without loading it."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = json.loads(archive.read("config.json"))["config"]["name"]
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a saved Keras model ({type(exc).__name__})") from None
    return name.removeprefix("mnistsum_")


def load(path: str | Path):
    """A saved Keras model of any family; only that family's module is imported."""
    import keras  # deferred: loading a spec or params must not import TensorFlow

    objects = family(saved_family(path)).CUSTOM_OBJECTS
    return keras.models.load_model(path, custom_objects=objects, compile=False)


def read_spec(path: str | Path) -> Spec:
    """The network a stage chose, from the `config` of the summary JSON it wrote."""
    return spec_from_dict(read_json(path)["config"])
