"""A family that records every batch it trains on (eagerly), so tests can check what a regime feeds: a linear
softmax on the pixels, registered as `recording`."""

from __future__ import annotations

from typing import Literal

import keras
import numpy as np
from pydantic import Field

from mnistsum import models
from mnistsum.data.pairs import N_CLASSES
from mnistsum.models.parts import pixels_input
from mnistsum.models.specs import BaseSpec

CUSTOM_OBJECTS: dict = {}
BATCHES: list[tuple[np.ndarray, np.ndarray]] = []  # (pixels, sum labels) of every training batch, in order


class RecordingSpec(BaseSpec):
    family: Literal["recording"] = "recording"
    learning_rate: float = Field(0.01, gt=0)


class Recording(keras.Model):
    def train_step(self, data):
        x, y = data[0], data[1]
        BATCHES.append((np.asarray(x), np.asarray(y)))
        return super().train_step(data)


def build(spec: RecordingSpec) -> keras.Model:
    inputs, h = pixels_input()
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax", name="sum")(keras.layers.Flatten()(h))
    model = Recording(inputs, outputs, name="mnistsum_recording")
    # Eager, so that train_step sees the batch's values.
    model.compile(
        optimizer=keras.optimizers.Adam(spec.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        run_eagerly=True,
    )
    return model


def register() -> None:
    models.register(RecordingSpec, "recording_family")


def unregister() -> None:
    models.MODULES.pop("recording", None)
    models.specs.SPECS.pop("recording", None)
