"""The report's four sequential search spaces: study1 explores the MLP family's own space; each later study
narrows one setting of the network the previous stage chose, holding the rest fixed."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from mnistsum.models import mlp
from mnistsum.models.parts import suggest_float, suggest_units
from mnistsum.models.specs import Spec
from mnistsum.params import Params

SEARCH_STAGES = ("study1", "study2", "study3", "study4")
FAMILY = "mlp"  # every study searches the report's network


def search_space(stage: str, params: Params) -> Callable[[optuna.Trial, Spec | None], Spec]:
    """How each study turns a trial into a network, holding fixed what earlier studies settled. study1 is the
    MLP family's own space; the later ones narrow it one setting at a time, as the report does."""
    if stage == "study1":
        return lambda t, prev: mlp.suggest(t, params.study1, prev)
    if stage == "study2":
        return lambda t, prev: prev.replace(
            learning_rate=suggest_float(t, "learning_rate", params.study2.learning_rate)
        )
    if stage == "study3":
        return lambda t, prev: prev.replace(units=suggest_units(t, params.study3.layers, params.study3.units))
    if stage == "study4":
        return lambda t, prev: prev.replace(dropout=suggest_float(t, "dropout", params.study4.dropout))
    raise ValueError(f"unknown study {stage!r}; expected one of {SEARCH_STAGES}")
