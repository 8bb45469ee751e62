"""The report's family: dense layers on the flattened 56x28 pixels and a 19-way softmax."""

from __future__ import annotations

import keras

from mnistsum.data.pairs import N_CLASSES, Pairs
from mnistsum.models.parts import Embedding, compile_sum_model, pixels_input, predict, suggest_float, suggest_units
from mnistsum.models.served import model_input
from mnistsum.models.specs import MlpSpec

CUSTOM_OBJECTS: dict = {}
EMBEDDING_LAYER = "embedding"  # the last hidden layer, which t-SNE maps


def build(spec: MlpSpec) -> keras.Model:
    inputs, h = pixels_input()
    h = keras.layers.Flatten(name="flatten")(h)
    for i, units in enumerate(spec.units):
        last = i == len(spec.units) - 1
        if spec.batch_norm:
            h = keras.layers.Dense(units, use_bias=False, name=f"dense_{i}")(h)
            h = keras.layers.BatchNormalization(name=f"bn_{i}")(h)
            h = keras.layers.Activation(spec.activation, name=EMBEDDING_LAYER if last else f"act_{i}")(h)
        else:
            h = keras.layers.Dense(units, activation=spec.activation, name=EMBEDDING_LAYER if last else f"dense_{i}")(h)
        if spec.dropout > 0:
            h = keras.layers.Dropout(spec.dropout, name=f"dropout_{i}")(h)
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax", name="sum", dtype="float32")(h)
    return compile_sum_model(keras.Model(inputs, outputs, name="mnistsum_mlp"), spec.learning_rate)


def suggest(trial, space, previous: MlpSpec | None) -> MlpSpec:
    """The report's study1 space (depth, width, dropout, learning rate, activation): `space` is a params
    section with `layers`, `units`, `dropout` and `learning_rate` ranges and `activations`."""
    return MlpSpec(
        units=suggest_units(trial, space.layers, space.units),
        dropout=suggest_float(trial, "dropout", space.dropout),
        learning_rate=suggest_float(trial, "learning_rate", space.learning_rate),
        activation=trial.suggest_categorical("activation", list(space.activations)),
    )


def embeddings(model: keras.Model, pairs: Pairs) -> dict[str, Embedding]:
    emb = keras.Model(model.inputs, model.get_layer(EMBEDDING_LAYER).output)
    return {"embedding": Embedding(predict(emb, model_input(pairs.x)), pairs.y.astype(int), "sum")}
