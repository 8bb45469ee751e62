"""The families' specs: frozen, typed, and told apart by `family`. No Keras here, so params.yaml validates
without importing TensorFlow."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

FAMILIES = ("mlp", "cnn", "sumnet")
Activation = Literal["relu", "sigmoid", "tanh", "elu", "selu", "gelu"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def replace(self, **changes: Any):
        return type(self).model_validate({**self.to_dict(), **changes})


class MlpSpec(_Spec):
    """Dense layers on the flattened 56x28 pixels (the report's network)."""

    family: Literal["mlp"] = "mlp"
    units: tuple[int, ...] = Field((50,), min_length=1)
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0, lt=1)
    learning_rate: float = Field(1e-3, gt=0)
    batch_norm: bool = False


class ConvSpec(_Spec):
    """A VGG-style trunk: per block, `convs_per_block` 3x3 convolutions (batch norm, ReLU), then 2x2 max pooling;
    then a dense layer of `dense` units (the embedding) and dropout."""

    filters: tuple[int, ...] = Field((32, 64), min_length=1)
    convs_per_block: int = Field(2, ge=1, le=3)
    dense: int = Field(128, gt=0)
    dropout: float = Field(0.3, ge=0, lt=1)
    learning_rate: float = Field(2e-3, gt=0)
    # Random shifts of up to this fraction of the height and width while training (0: none); inactive at inference.
    augment_shift: float = Field(0.0, ge=0, lt=0.5)
    augment_rotation: float = Field(0.0, ge=0, lt=0.5)  # fraction of a full turn


class CnnSpec(ConvSpec):
    """The plain baseline: the trunk on the whole 56x28 image, one 19-way softmax, no structure."""

    family: Literal["cnn"] = "cnn"


class SumnetSpec(ConvSpec):
    """One digit encoder (the trunk plus a 10-way softmax) shared by both 28x28 halves; the sum distribution is
    the exact convolution of the two digit distributions. Trained on sum labels alone."""

    family: Literal["sumnet"] = "sumnet"


Spec = Annotated[Union[MlpSpec, CnnSpec, SumnetSpec], Field(discriminator="family")]
_ADAPTER = TypeAdapter(Spec)


def spec_from_dict(data: dict[str, Any]) -> Spec:
    return _ADAPTER.validate_python(data)
