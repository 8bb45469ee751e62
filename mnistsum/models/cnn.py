"""The plain convolutional baseline: the trunk on the whole 56x28 image, one 19-way softmax, no structure."""

from __future__ import annotations

import keras

from mnistsum.data.pairs import N_CLASSES, Pairs
from mnistsum.models.parts import Embedding, compile_sum_model, conv_trunk, pixels_input, predict
from mnistsum.models.served import model_input
from mnistsum.models.specs import CnnSpec

CUSTOM_OBJECTS: dict = {}


def build(spec: CnnSpec) -> keras.Model:
    inputs, h = pixels_input()
    h = keras.layers.Reshape((56, 28, 1), name="channel")(h)
    h = conv_trunk(h, spec)
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax", name="sum", dtype="float32")(h)
    return compile_sum_model(keras.Model(inputs, outputs, name="mnistsum_cnn"), spec.learning_rate)


def embeddings(model: keras.Model, pairs: Pairs) -> dict[str, Embedding]:
    emb = keras.Model(model.inputs, model.get_layer("embedding").output)
    return {"embedding": Embedding(predict(emb, model_input(pairs.x)), pairs.y.astype(int), "sum")}
