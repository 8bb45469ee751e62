"""The families' specs: frozen, typed, and told apart by `family`. No Keras here, so params.yaml validates
without importing TensorFlow. A family registers its spec class (`register_spec`); `spec_from_dict` and the
`AnySpec` field type find it by its `family` value."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SerializeAsAny, TypeAdapter

Activation = Literal["relu", "sigmoid", "tanh", "elu", "selu", "gelu"]


class BaseSpec(BaseModel):
    """What every family's spec has: its `family` name (a Literal default in each subclass). Every family also
    has a `learning_rate` (training reads it), declared in its own field order."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    family: str

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def replace(self, **changes: Any):
        return type(self).model_validate({**self.to_dict(), **changes})


class MlpSpec(BaseSpec):
    """Dense layers on the flattened 56x28 pixels (the report's network)."""

    family: Literal["mlp"] = "mlp"
    units: tuple[int, ...] = Field((50,), min_length=1)
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0, lt=1)
    learning_rate: float = Field(1e-3, gt=0)
    batch_norm: bool = False


class ConvSpec(BaseSpec):
    """A VGG-style trunk: per block, `convs_per_block` 3x3 convolutions (batch norm if `batch_norm`, ReLU), then
    2x2 max pooling; then a dense layer of `dense` units (the embedding) and dropout."""

    filters: tuple[int, ...] = Field((32, 64), min_length=1)
    convs_per_block: int = Field(2, ge=1, le=3)
    # Batch norm helps the sumnet's 28x28 encoder; on the whole 56x28 pair it kept the plain CNN near chance
    # (measured: README, "What was wrong with the CNN"), so each family says.
    batch_norm: bool = True
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


SPECS: dict[str, type[BaseSpec]] = {}


def register_spec(cls: type[BaseSpec]) -> type[BaseSpec]:
    """Make a spec class known by its `family` default, so params and saved configs can name it."""
    SPECS[cls.model_fields["family"].default] = cls
    return cls


for _cls in (MlpSpec, CnnSpec, SumnetSpec):
    register_spec(_cls)


def _dispatch(data: Any) -> BaseSpec:
    if isinstance(data, BaseSpec):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"expected a mapping with a 'family' key, got {type(data).__name__}")
    name = data.get("family")
    if name not in SPECS:
        raise ValueError(f"unknown model family {name!r}; expected one of {', '.join(SPECS)}")
    return SPECS[name].model_validate(data)


# A params field holding any registered family's spec; dumped with its own family's fields.
AnySpec = Annotated[BaseSpec, SerializeAsAny(), BeforeValidator(_dispatch)]
_ADAPTER = TypeAdapter(AnySpec)


def spec_from_dict(data: Any) -> BaseSpec:
    """The spec of the family `data['family']` names, validated (a pydantic ValidationError if it is not one);
    a spec passes through."""
    return _ADAPTER.validate_python(data)


Spec = BaseSpec  # the type every spec-taking function names
