"""The one path every registered network takes: train with early stopping on validation, evaluate, save,
register (under its family's name and the cross-family one) and summarise. The `final` MLP and each family's
own stage (`cnn`, `sumnet`, any family plugged into mnistsum.models) go through `train_evaluate_register`;
what only one family measures comes from its module's hooks, so nothing here names a family."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistsum import figures, metrics, models, tracking, training
from mnistsum.data.feed import training_arrays
from mnistsum.data.pairs import N_CLASSES, Pairs
from mnistsum.data.splits import StageData, load_data
from mnistsum.errors import InputError
from mnistsum.figures import save_figure
from mnistsum.files import atomic_path, write_json, write_metrics
from mnistsum.models.specs import Spec
from mnistsum.params import FamilyStage, Params, Training
from mnistsum.tracking import registry
from mnistsum.training import TrainResult


@dataclass(frozen=True)
class Paths:
    data: Path
    out: Path  # folder for model.keras, model.weights.h5, history.json, best.json
    plots: Path  # folder for the run's figures
    metrics: Path


def evaluate(model, pairs: dict[str, Pairs], bins: int, plots: Path, name: str) -> tuple[dict, list[Path]]:
    """Everything a network's run reports once training is over: accuracy and ECE per split, the sum confusion
    matrix and reliability diagram on test, and whatever its family measures itself (models.measures/report)."""
    out: dict[str, Any] = {}
    probas = {}
    for split in ("val", "test"):
        probas[split] = training.predict_proba(model, pairs[split].x)
        y = pairs[split].y.astype(np.int64)
        out[f"{split}_accuracy"] = metrics.accuracy(probas[split], y)
        out[f"{split}_ece"] = metrics.ece(probas[split], y, bins)
    test = pairs["test"]
    y = test.y.astype(np.int64)
    paths = [plots / f"{name}_sum_confusion.png", plots / f"{name}_reliability.png"]
    save_figure(
        figures.confusion_matrix(
            metrics.confusion(y, probas["test"].argmax(1), N_CLASSES), f"{name}: sums of {len(test):,} test pairs"
        ),
        paths[0],
    )
    save_figure(
        figures.reliability_diagram(
            {f"{name} test": metrics.calibration_bins(probas["test"], y, bins)},
            f"{name}: reliability on test (ECE {out['test_ece']:.4f})",
        ),
        paths[1],
    )
    out |= models.measures(model, {"val": pairs["val"], "test": test})
    extra, extra_paths = models.report(model, test, plots, name)
    return out | extra, paths + extra_paths


def train_evaluate_register(
    stage: str,
    spec: Spec,
    section: Training,
    params: Params,
    stage_data: StageData,
    paths: Paths,
    figures_of: Callable[[TrainResult], list[Path]] | None = None,
) -> dict:
    """Train `spec` as `section` says (early stopping on validation accuracy), evaluate, save the model, its
    weights and history, register it, and write best.json and the stage's DVC metrics. `figures_of` draws the
    stage's own figures from the result (logged with the run)."""
    started = time.perf_counter()
    seed, batch = params.base.seed, params.base.batch_size
    pairs = stage_data.pairs
    data = training_arrays(pairs, section.regime)
    run_params = {
        "config": spec.to_dict(),
        stage: section.model_dump(exclude={"model"}),
        "seed": seed,
        "batch_size": batch,
    }
    tags = {"family": spec.family}
    with tracking.start_run("nn", stage, stage=stage, params=run_params, tags=tags, regime=section.regime) as run:
        rid = run.info.run_id
        tracking.log_datasets(rid, stage_data.inputs)
        monitors = [lambda model: models.measures(model, {"val": pairs["val"], "test": pairs["test"]})]
        t0 = time.perf_counter()
        result = training.train(
            spec,
            data,
            section.max_epochs,
            batch,
            seed,
            run_id=rid,
            label=stage,
            patience=section.patience,
            schedule=section.schedule,
            regime=section.regime,
            monitors=monitors,
            precision=params.base.precision,
        )
        train_seconds = time.perf_counter() - t0
        report, figs = evaluate(result.model, pairs, params.base.ece_bins, paths.plots, stage)
        report |= {
            "pairs_per_second": training.pairs_per_second(result.model, pairs["test"].x),
            "epochs_run": result.epochs_run,
            "best_epoch": int(np.argmax(result.history["val_accuracy"])) + 1,
            "train_seconds": train_seconds,
            "seconds_per_epoch": train_seconds / max(1, result.epochs_run),
            "parameters": int(result.model.count_params()),
        }
        figs.append(paths.plots / f"{stage}_accuracy.png")
        save_figure(figures.accuracy_curves({stage: result.history}, f"{stage}: sum accuracy per epoch"), figs[-1])
        figs += figures_of(result) if figures_of else []
        tracking.log_metrics(rid, {f"final_{k}" if k.endswith("accuracy") else k: v for k, v in report.items()})
        tracking.log_files(rid, figs)
        with atomic_path(paths.out / "model.keras", suffix=".keras") as tmp:
            result.model.save(tmp)
        with atomic_path(paths.out / "model.weights.h5", suffix=".weights.h5") as tmp:
            result.model.save_weights(tmp)
        write_json(paths.out / "history.json", result.history)
        versions = registry.log_and_register(
            result.model,
            rid,
            [section.model_name, params.base.best_model_name],
            params.base.alias,
            result.val_accuracy,
            val_x=pairs["val"].x,
            val_y=pairs["val"].y,
            data_ids=stage_data.ids,
            params=run_params | {"code": training.code_digest(spec.family)},
            family=spec.family,
            regime=section.regime,
            metrics={k: v for k, v in report.items() if k.endswith("accuracy")},
        )
    summary = result.summary(
        spec,
        stage,
        family=spec.family,
        regime=section.regime,
        run_id=rid,
        patience=section.patience,
        max_epochs=section.max_epochs,
        schedule=section.schedule,
        **report,
        stopped_early=result.stopped_early,
        registered=versions,
        seconds=time.perf_counter() - started,
    )
    write_json(paths.out / "best.json", summary)
    headline = {k: report[k] for k in report if k.endswith("digit_accuracy")}
    write_metrics(
        paths.metrics,
        result.val_accuracy,
        result.test_accuracy,
        test_ece=report["test_ece"],
        epochs_run=result.epochs_run,
        regime=section.regime,
        **headline,
    )
    print(
        f"{stage}: val {result.val_accuracy:.4f} test {result.test_accuracy:.4f}"
        + "".join(f" {k} {v:.4f}" for k, v in headline.items())
        + f" after {result.epochs_run} epochs ({train_seconds:.0f}s); "
        + "; ".join(f"{v['name']} v{v['version']} ({v['alias_action']})" for v in versions),
        flush=True,
    )
    return summary


def family_stages(params: Params) -> list[str]:
    """The params sections that train one family on its own (`cnn`, `sumnet`, ...)."""
    return [name for name in type(params).model_fields if isinstance(getattr(params, name), FamilyStage)]


def run(params: Params, paths: Paths, stage: str) -> dict:
    """A family's own stage: the network of its params section, trained on the given pairs."""
    section = getattr(params, stage, None)
    if not isinstance(section, FamilyStage):
        raise InputError(
            f"params.yaml: {stage!r} is not a family stage; expected one of {', '.join(family_stages(params))}"
        )
    stage_data = load_data(paths.data, section.train_fraction, params.base.seed)
    return train_evaluate_register(stage, section.model, section, params, stage_data, paths)
