"""A toy family from outside the package, plugged in through mnistsum.models' interface alone: a linear softmax
on the pixels. tests/models/test_plugin_family.py trains, logs, registers and pulls it through the stage code."""

from __future__ import annotations

from typing import Literal

import keras
from pydantic import Field

from mnistsum.data.pairs import N_CLASSES, Pairs
from mnistsum.models.parts import Embedding, compile_sum_model, pixels_input, predict
from mnistsum.models.served import model_input
from mnistsum.models.specs import BaseSpec

CUSTOM_OBJECTS: dict = {}


class LinearSpec(BaseSpec):
    family: Literal["linear"] = "linear"
    learning_rate: float = Field(0.01, gt=0)


def build(spec: LinearSpec) -> keras.Model:
    inputs, h = pixels_input()
    h = keras.layers.Flatten(name="embedding")(h)
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax", name="sum")(h)
    return compile_sum_model(keras.Model(inputs, outputs, name="mnistsum_linear"), spec.learning_rate)


def embeddings(model: keras.Model, pairs: Pairs) -> dict[str, Embedding]:
    emb = keras.Model(model.inputs, model.get_layer("embedding").output)
    return {"embedding": Embedding(predict(emb, model_input(pairs.x)), pairs.y.astype(int), "sum")}
