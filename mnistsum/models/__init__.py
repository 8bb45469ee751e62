"""Model families. Each family is one module here with the same small interface:

- a spec (in `specs`, keras-free, so params validation never imports TensorFlow), selected by its `family` field;
- `build(spec) -> keras.Model`: compiled, taking raw (n, 56, 28) pixels (0-255), scaling and reshaping in-graph,
  ending in the 19 sum probabilities;
- `suggest(trial, space, previous) -> spec`: an Optuna search space;
- `embeddings(model, pairs) -> {name: Embedding}`: what t-SNE maps, with the labels to colour it by;
- `CUSTOM_OBJECTS`: what `keras.models.load_model` needs besides Keras' own layers.

Training, early stopping, pruning, tracking, the registry and t-SNE use only this interface.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mnistsum.models.specs import FAMILIES, Spec, spec_from_dict

__all__ = ["FAMILIES", "Spec", "build", "embeddings", "family", "family_of", "spec_from_dict", "load"]


def family(spec_or_name: Spec | str) -> ModuleType:
    name = spec_or_name if isinstance(spec_or_name, str) else spec_or_name.family
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; expected one of {', '.join(FAMILIES)}")
    return importlib.import_module(f"mnistsum.models.{name}")


def build(spec: Spec):
    return family(spec).build(spec)


def family_of(model) -> str:
    """The family a built or loaded Keras model belongs to: every family names its model `mnistsum_<family>`."""
    name = model.name.removeprefix("mnistsum_")
    if name not in FAMILIES:
        raise ValueError(f"model {model.name!r} is not one of mnistsum's families ({', '.join(FAMILIES)})")
    return name


def embeddings(model, pairs) -> dict:
    """What t-SNE maps for this model: {name: Embedding(points, labels, label_name)}."""
    return family(family_of(model)).embeddings(model, pairs)


def load(path):
    """A saved Keras model of any family."""
    import keras

    objects = {}
    for name in FAMILIES:
        objects |= family(name).CUSTOM_OBJECTS
    return keras.models.load_model(path, custom_objects=objects, compile=False)
