"""What the families build from: the raw-pixel input, the shared compile, the convolutional trunk, Optuna
suggestions and the embedding record t-SNE maps."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from mnistsum.models.specs import ConvSpec


@dataclass
class Embedding:
    """Points of a learned representation and the labels to colour them by ('sum' or 'digit')."""

    points: np.ndarray
    labels: np.ndarray
    label_name: str


def pixels_input() -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Raw (56, 28) pixels in 0-255, and the same scaled to [0, 1] inside the graph."""
    inputs = keras.Input(shape=(56, 28), name="pixels")
    return inputs, keras.layers.Rescaling(1 / 255, name="scale")(inputs)


def compile_sum_model(model: keras.Model, learning_rate: float) -> keras.Model:
    """Every family ends in 19 sum probabilities and minimises the negative log-likelihood of the sum label."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def conv_trunk(h: keras.KerasTensor, spec: ConvSpec, prefix: str = "") -> keras.KerasTensor:
    """Augmentation (training only), VGG-style blocks, the dense embedding layer and dropout after it. (Dropout
    on the flattened maps as well, with augmentation, kept a sumnet near chance for its first epochs: measured.)"""
    if spec.augment_shift > 0:
        h = keras.layers.RandomTranslation(
            spec.augment_shift, spec.augment_shift, fill_mode="constant", name=f"{prefix}shift"
        )(h)
    if spec.augment_rotation > 0:
        h = keras.layers.RandomRotation(spec.augment_rotation, fill_mode="constant", name=f"{prefix}rotate")(h)
    for b, filters in enumerate(spec.filters):
        for c in range(spec.convs_per_block):
            if spec.batch_norm:
                h = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{prefix}conv{b}_{c}")(h)
                h = keras.layers.BatchNormalization(name=f"{prefix}bn{b}_{c}")(h)
                h = keras.layers.Activation("relu", name=f"{prefix}relu{b}_{c}")(h)
            else:
                h = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{prefix}conv{b}_{c}")(h)
        h = keras.layers.MaxPooling2D(name=f"{prefix}pool{b}")(h)
    h = keras.layers.Flatten(name=f"{prefix}flatten")(h)
    h = keras.layers.Dense(spec.dense, activation="relu", name=f"{prefix}embedding")(h)
    if spec.dropout > 0:
        h = keras.layers.Dropout(spec.dropout, name=f"{prefix}dropout_dense")(h)
    return h


def suggest_float(trial, name: str, r) -> float:
    return trial.suggest_float(name, r.low, r.high, log=r.log)


def suggest_int(trial, name: str, r) -> int:
    return trial.suggest_int(name, int(r.low), int(r.high), log=r.log)


def suggest_units(trial, layers, units) -> tuple[int, ...]:
    n = trial.suggest_int("n_layers", int(layers.low), int(layers.high))
    return tuple(suggest_int(trial, f"units_l{i}", units) for i in range(n))


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=2048, verbose=0))
