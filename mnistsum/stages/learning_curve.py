"""Stage `learning_curve`: every family at a few training sizes, beside each family's own stage run as the
point at all training pairs. Each family is the network its stage trained (the `config` of that stage's
best.json) with that stage's patience, so the stage reads what it declares and names no family."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistsum import figures, models, tracking
from mnistsum.data.splits import load_data
from mnistsum.errors import InputError
from mnistsum.figures import save_figure
from mnistsum.files import read_json, write_json, write_metrics
from mnistsum.params import Params
from mnistsum.training import SmallBudget, fit_at_size


@dataclass(frozen=True)
class Paths:
    data: Path
    stage_results: tuple[Path, ...]  # each family stage's best.json (final, cnn, sumnet, ...)
    plots: Path
    metrics: Path
    summary: Path  # every point (JSON)


def read_stage_results(paths: tuple[Path, ...], families: tuple[str, ...]) -> dict[str, dict]:
    """Each wanted family's stage result, by family; a family without one is an error naming it."""
    results = {}
    for path in paths:
        best = read_json(path)
        results[best.get("family") or models.spec_from_dict(best["config"]).family] = best
    missing = [f for f in families if f not in results]
    if missing:
        raise InputError(
            f"learning_curve: no stage result for families {missing} among "
            f"{', '.join(map(str, paths))}; expected one best.json per family"
        )
    return results


def run(params: Params, paths: Paths) -> dict:
    """One MLflow run per family and size (nested under one parent), plus the stages' own runs as the point at
    all training pairs; one figure of test sum accuracy against size."""
    p, seed, batch = params.learning_curve, params.base.seed, params.base.batch_size
    started = time.perf_counter()
    stage_results = read_stage_results(paths.stage_results, p.families)
    specs = {f: models.spec_from_dict(stage_results[f]["config"]) for f in p.families}
    stage_data = load_data(paths.data, 1.0, seed)
    pairs = stage_data.pairs
    sizes = sorted({min(n, len(pairs["train"])) for n in p.train_sizes})
    points: list[dict[str, Any]] = []
    with tracking.start_run(
        "nn",
        "learning_curve",
        stage="learning_curve",
        params={
            "learning_curve": p.model_dump(),
            "seed": seed,
            "batch_size": batch,
            **{f"config.{f}": specs[f].to_dict() for f in p.families},
        },
    ) as parent:
        tracking.log_datasets(parent.info.run_id, stage_data.inputs)
        total = len(sizes) * len(p.families)
        for n in sizes:
            for family in p.families:
                budget = SmallBudget(p.min_steps, p.max_epochs, p.val_size, int(stage_results[family]["patience"]))
                name = f"{family} n={n}"
                with tracking.start_run(
                    "nn",
                    name,
                    stage="learning_curve",
                    parent_run_id=parent.info.run_id,
                    params={
                        "family": family,
                        "train_pairs": n,
                        "config": specs[family].to_dict(),
                        "epochs": budget.epochs(n, batch),
                    },
                    tags={"family": family},
                ) as child:
                    r = fit_at_size(
                        specs[family], pairs, n, budget, batch, seed, child.info.run_id, f"learning_curve {name}"
                    )
                    r.pop("_proba")
                    tracking.log_metrics(
                        child.info.run_id,
                        {f"final_{k}": v for k, v in r.items() if k.endswith("accuracy")}
                        | {"train_seconds": r["train_seconds"]},
                    )
                points.append(r | {"run_id": child.info.run_id})
                print(
                    f"learning_curve: {len(points)}/{total} {name}: test {r['test_accuracy']:.4f} "
                    f"({r['epochs_run']} epochs, {r['train_seconds']:.0f}s)",
                    flush=True,
                )
        for family in p.families:
            best = stage_results[family]
            points.append(
                {
                    "family": family,
                    "n": len(pairs["train"]),
                    "val_accuracy": best["val_accuracy"],
                    "test_accuracy": best["test_accuracy"],
                    "run_id": best["run_id"],
                    "stage_run": True,
                }
            )
        all_sizes = sorted({pt["n"] for pt in points})
        curves = {
            f: [_acc(points, f, n) if _acc(points, f, n) is not None else np.nan for n in all_sizes] for f in p.families
        }
        path = paths.plots / "learning_curve.png"
        save_figure(
            figures.lines_log_x(
                all_sizes,
                curves,
                "training pairs (sum labels only)",
                "test sum accuracy",
                "Learning curve: " + " vs ".join(p.families),
            ),
            path,
        )
        tracking.log_files(parent.info.run_id, [path])
        wins = {
            n: _acc(points, "sumnet", n) > _acc(points, "cnn", n)
            for n in all_sizes
            if _acc(points, "sumnet", n) is not None and _acc(points, "cnn", n) is not None
        }
        tracking.log_tags(parent.info.run_id, {"sumnet_ahead_of_cnn_at_every_size": str(all(wins.values())).lower()})
    out = {
        "points": points,
        "sizes": all_sizes,
        "sumnet_ahead_of_cnn": wins,
        "run_id": parent.info.run_id,
        "seconds": time.perf_counter() - started,
    }
    write_json(paths.summary, out)
    headline = {f"{f}_test_accuracy_at_{n}": _acc(points, f, n) for f in p.families for n in sizes}
    write_metrics(paths.metrics, None, None, **{k: v for k, v in headline.items() if v is not None})
    return out


def _acc(points: list[dict], family: str, n: int) -> float | None:
    return next((pt["test_accuracy"] for pt in points if pt["family"] == family and pt["n"] == n), None)
