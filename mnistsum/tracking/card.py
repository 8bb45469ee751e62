"""The model card of a registered version: what the model is for, how it was trained (family and regime), the
numbers that chose it and the ones that only report, the data it saw, its input contract, its limits, and how to
pull and serve it. One Markdown text, written from the run: it is the version's description on the registry
page and `model_card.md` inside the logged model, so it travels with every pull."""

from __future__ import annotations

import json
from typing import Any

from mnistsum import models
from mnistsum.models import served

# What each supervision regime means; every registered version names one.
REGIMES = {
    "sums": "the given training pairs and their sum labels only (the digit labels are never seen)",
    "digits": "fresh pairs formed each epoch from the training digits, labelled from the digit labels "
    "(the network still only ever sees a sum label per pair, but the pairing uses the digit labels)",
}


def family_text(family: str) -> str:
    """The family module's own description (the first paragraph of its docstring)."""
    doc = (models.family(family).__doc__ or family).strip().split("\n\n")[0]
    return " ".join(doc.split())


def model_card(
    *,
    family: str,
    regime: str,
    run_id: str,
    metrics: dict[str, float],
    data_ids: dict[str, str],
    params: dict[str, Any],
    names: list[str],
) -> str:
    """The card's Markdown. `metrics` holds validation and test numbers (val_* chose, test_* only report)."""
    if regime not in REGIMES:
        raise ValueError(f"unknown training regime {regime!r}; expected one of {', '.join(REGIMES)}")

    def role(key: str) -> str:
        if key == "val_accuracy":
            return "chose this model (validation)"
        return "validation, measured only" if key.startswith("val") else "reported only (test)"

    numbers = "\n".join(
        f"| {k} | {v:.4f} | {role(k)} |"
        for k, v in sorted(
            metrics.items(), key=lambda kv: (kv[0] != "val_accuracy", not kv[0].startswith("val"), kv[0])
        )
    )
    name = names[0]
    return f"""# {name}: the sum of two stacked handwritten digits

**Family:** `{family}`: {family_text(family)}
**Training regime:** `{regime}`: {REGIMES[regime]}.
**Run:** `{run_id}` (its params, per-epoch curves and figures are in the MLflow run).

## Numbers

| metric | value | role |
|---|---|---|
{numbers}

Validation pairs are made of MNIST training digits kept apart from the training pairs; test pairs of MNIST test
digits. The registry alias moves only on validation accuracy.

## Data

- training pairs: sha256 `{data_ids.get("train", "?")}`
- validation pairs: sha256 `{data_ids.get("val", "?")}`
- test pairs: sha256 `{data_ids.get("test", "?")}`

## Input contract

{served.EXPECTED}: one image of 56 rows x 28 columns per entry, the top digit in rows 0-27, white digits on black
as MNIST has them. Anything else is refused with one line (HTTP 400 when served), never cast. Output: the sum
(0-18) per image; `predict(x, params={{"digits": True}})` adds both digits for a sumnet.

## Limits

- MNIST-style digits only: centred in 28x28, white on black, anti-aliased; other handwriting, photos, inverted
  colours or digits side by side are out of its distribution and its answers there mean nothing.
- Exactly two digits, one per half; no "no digit" answer.
- Its accuracy is measured on MNIST test digits; it says nothing about other sources.

## Pull and serve

```bash
mnistsum predict --model models:/{name}@champion pair.png   # 56x28 grayscale PNGs, or .npz
mnistsum serve --model models:/{name}@champion --port 5001   # POST {{"inputs": [...]}} to /invocations
mlflow artifacts download -u models:/{name}@champion -d m    # then: pip install -r m/requirements.txt
```

## Params

```json
{json.dumps(params, indent=1, sort_keys=True, default=str)[:4000]}
```
"""
