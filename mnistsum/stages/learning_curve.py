"""Stage `learning_curve`: every family in every supervision regime at a few training sizes, and at all training
pairs. Each family is the network its stage trained (the `config` of that stage's best.json). At all pairs, a
stage's own run is the point of its regime; the other regimes' all-pairs points are trained here with that
stage's recipe (epochs, patience, schedule), so every family meets every other on the same pairs and labels.
The test probabilities of every point trained here are an output, so `compare` reads the sumnet's instead of
training it again. The stage reads what it declares and names no family."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistsum import figures, metrics, models, tracking, workers
from mnistsum.data.feed import training_arrays
from mnistsum.data.pairs import Pairs
from mnistsum.data.splits import load_data
from mnistsum.errors import InputError
from mnistsum.figures import save_figure
from mnistsum.files import read_json, write_json, write_metrics
from mnistsum.models.specs import Spec
from mnistsum.params import Params, Regime
from mnistsum.stages.points import find_point, point_key, save_probabilities
from mnistsum.training import predict_proba, train


@dataclass(frozen=True)
class Paths:
    data: Path
    stage_results: tuple[Path, ...]  # each family stage's best.json (final, cnn, sumnet, ...)
    plots: Path
    metrics: Path
    summary: Path  # every point (JSON)
    probabilities: Path  # .npz: the test sum probabilities of every point trained here, "family/regime/n"


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


@dataclass(frozen=True)
class SmallBudget:
    """How a model trains on a subset: at least `min_steps` batches (a small set gets more epochs), at most
    `max_epochs`, early stopping on a fixed seeded subset of `val_size` validation pairs. Patience counts in
    full-size epochs' worth of batches: on 1,000 pairs an epoch is 8 batches, and 4 of them stopped a sumnet
    still at chance (measured: 0.10 at epoch 9; 0.96 when it trained its 400 batches)."""

    min_steps: int
    max_epochs: int
    val_size: int
    patience: int
    schedule: str = "cosine"
    precision: str = "float32"  # base.precision

    def epochs(self, n: int, batch_size: int) -> int:
        return min(self.max_epochs, max(1, math.ceil(self.min_steps / math.ceil(n / batch_size))))

    def patience_epochs(self, n: int, full_n: int, batch_size: int) -> int:
        return max(self.patience, math.ceil(self.patience * math.ceil(full_n / batch_size) / math.ceil(n / batch_size)))


def fit_at_size(
    spec: Spec,
    pairs: dict[str, Pairs],
    n: int,
    budget: SmallBudget,
    batch_size: int,
    seed: int,
    run_id: str | None,
    label: str,
    regime: Regime = "sums",
) -> dict[str, Any]:
    """Train spec's family on the first n training pairs in `regime` (in `digits`, fresh pairs of those pairs'
    own digits) and score it on the whole test set. Returns accuracies, the test sum probabilities (`_proba`)
    and the family's own measures on test."""
    subset = pairs["train"].head(n)
    val = pairs["val"]
    if budget.val_size < len(val):
        val = val.take(np.sort(np.random.default_rng(seed).choice(len(val), budget.val_size, replace=False)))
    data = training_arrays({"train": subset, "val": val, "test": pairs["test"]}, regime)
    epochs = budget.epochs(n, batch_size)
    t0 = time.perf_counter()
    result = train(
        spec,
        data,
        epochs,
        batch_size,
        seed,
        run_id=run_id,
        label=label,
        patience=budget.patience_epochs(n, len(pairs["train"]), batch_size),
        schedule=budget.schedule,
        regime=regime,
        track_test=False,
        precision=budget.precision,
    )
    out: dict[str, Any] = {
        "family": spec.family,
        "regime": regime,
        "n": n,
        "val_accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy,
        "epochs": epochs,
        "epochs_run": result.epochs_run,
        "train_seconds": time.perf_counter() - t0,
        "parameters": int(result.model.count_params()),
        "_proba": predict_proba(result.model, pairs["test"].x),
    }
    return out | models.measures(result.model, {"test": pairs["test"]})


@dataclass(frozen=True)
class Point:
    """One point of the curve to train: a family's network in a regime on the first n pairs."""

    spec: Spec
    regime: Regime
    n: int
    budget: SmallBudget
    batch_size: int
    seed: int
    parent_run_id: str
    ece_bins: int


def train_point(point: Point, data_dir: Path) -> tuple[dict[str, Any], np.ndarray]:
    """Train one point in its own child run (in whichever process runs it) and return its row and its test sum
    probabilities."""
    pairs = workers.cached(load_data, data_dir, 1.0, point.seed).pairs
    family, regime, n, batch, budget = point.spec.family, point.regime, point.n, point.batch_size, point.budget
    name = f"{family} {regime} n={n}"
    with tracking.start_run(
        "nn",
        name,
        stage="learning_curve",
        parent_run_id=point.parent_run_id,
        params={
            "family": family,
            "train_pairs": n,
            "config": point.spec.to_dict(),
            "epochs": budget.epochs(n, batch),
            "schedule": budget.schedule,
        },
        tags={"family": family},
        regime=regime,
    ) as child:
        r = fit_at_size(
            point.spec, pairs, n, budget, batch, point.seed, child.info.run_id, f"learning_curve {name}", regime
        )
        proba = r.pop("_proba")
        r["test_ece"] = metrics.ece(proba, pairs["test"].y.astype(np.int64), point.ece_bins)
        tracking.log_metrics(
            child.info.run_id,
            {f"final_{k}": v for k, v in r.items() if k.endswith("accuracy")}
            | {k: r[k] for k in ("train_seconds", "parameters", "test_ece")},
        )
    return r | {"run_id": child.info.run_id}, proba


def stage_recipe(best: dict, n: int, batch_size: int, precision: str = "float32") -> SmallBudget:
    """A family stage's own recipe as a budget: all its epochs, its patience and schedule, on all validation
    pairs (patience_epochs at full size is the stage's patience)."""
    return SmallBudget(
        min_steps=int(best["max_epochs"]) * math.ceil(n / batch_size),
        max_epochs=int(best["max_epochs"]),
        val_size=10**12,
        patience=int(best["patience"]),
        schedule=best["schedule"],
        precision=precision,
    )


def expected_seconds(point: Point, best: dict, full: int) -> float:
    """A point's training time foreseen from its family stage's own measured seconds per epoch at all `full`
    pairs, in proportion to the batches the point may train (an upper bound: early stopping may end it sooner).
    It only orders the work: every point is seeded on its own, so the order changes no number."""
    n, batch = point.n, point.batch_size
    # At all pairs a point is a stage's recipe: it runs as many epochs as the stage did, not its cap.
    epochs = int(best["epochs_run"]) if n == full else point.budget.epochs(n, batch)
    return float(best["seconds_per_epoch"]) * epochs * math.ceil(n / batch) / math.ceil(full / batch)


def run(params: Params, paths: Paths) -> dict:
    """One MLflow run per family, regime and size (nested under one parent); the stages' own runs stand for the
    all-pairs point of their regime. One figure: test sum accuracy against size, a line per family and regime."""
    p, seed, batch = params.learning_curve, params.base.seed, params.base.batch_size
    started = time.perf_counter()
    stage_results = read_stage_results(paths.stage_results, p.families)
    specs = {f: models.spec_from_dict(stage_results[f]["config"]) for f in p.families}
    stage_data = load_data(paths.data, 1.0, seed)
    pairs = stage_data.pairs
    full = len(pairs["train"])
    sizes = sorted({min(n, full) for n in p.train_sizes})
    # (family, regime, n) to train: every small size in every regime, then the all-pairs points no stage gave.
    todo = [(f, r, n) for r in p.regimes for n in sizes if n < full for f in p.families]
    todo += [(f, r, full) for r in p.full_size_regimes for f in p.families if stage_results[f]["regime"] != r]
    points: list[dict[str, Any]] = []
    probabilities: dict[str, np.ndarray] = {}
    regimes = sorted({*p.regimes, *p.full_size_regimes, *(stage_results[f]["regime"] for f in p.families)})
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
        regime=",".join(regimes),
    ) as parent:
        tracking.log_datasets(parent.info.run_id, stage_data.inputs)
        tracking.log_metrics(parent.info.run_id, {"train_pairs": full})
        tasks = []
        for family, regime, n in todo:
            best = stage_results[family]
            budget = (
                stage_recipe(best, n, batch, params.base.precision)
                if n == full
                else SmallBudget(
                    p.min_steps, p.max_epochs, p.val_size, int(best["patience"]), precision=params.base.precision
                )
            )
            tasks.append(Point(specs[family], regime, n, budget, batch, seed, parent.info.run_id, params.base.ece_bins))
        # Each point is its own seeded training: several at once, each on its share of the cores, give the same
        # points in less time where one training cannot use every core (benchmarks/throughput.py). Longest first,
        # so the costliest point (at all pairs) does not run alone at the end while the other cores idle.
        costs = [expected_seconds(t, stage_results[t.spec.family], full) for t in tasks]
        tasks = [tasks[i] for i in sorted(range(len(tasks)), key=lambda i: -costs[i])]
        trained = workers.map_in_processes(
            train_point, tasks, (paths.data,), params.base.local_workers, models.register_all, (models.plugins(),)
        )
        for r, proba in trained:
            probabilities[point_key(r["family"], r["regime"], r["n"])] = proba
            points.append(r)
            print(
                f"learning_curve: {len(points)}/{len(todo)} {r['family']} {r['regime']} n={r['n']}: "
                f"test {r['test_accuracy']:.4f} ({r['epochs_run']} epochs, {r['train_seconds']:.0f}s)",
                flush=True,
            )
        points.sort(key=lambda r: todo.index((r["family"], r["regime"], r["n"])))
        for family in p.families:
            best = stage_results[family]
            points.append(
                {
                    "family": family,
                    "regime": best["regime"],
                    "n": full,
                    "val_accuracy": best["val_accuracy"],
                    "test_accuracy": best["test_accuracy"],
                    "run_id": best["run_id"],
                    "stage_run": True,
                }
            )
        all_sizes = sorted({pt["n"] for pt in points})
        curves = {
            f"{f} ({r})": [_acc(points, f, r, n) for n in all_sizes]
            for r in regimes
            for f in p.families
            if any(_acc(points, f, r, n) is not None for n in all_sizes)
        }
        path = paths.plots / "learning_curve.png"
        save_figure(
            figures.lines_log_x(
                all_sizes,
                {k: [np.nan if v is None else v for v in vs] for k, vs in curves.items()},
                "training pairs (solid: sums regime, dashed: digits regime)",
                "test sum accuracy",
                "Learning curve: " + " vs ".join(p.families),
                dashed={k for k in curves if k.endswith("(digits)")},
            ),
            path,
        )
        tracking.log_files(parent.info.run_id, [path])
    table = {r: {f: {str(n): _acc(points, f, r, n) for n in all_sizes} for f in p.families} for r in regimes}
    out = {
        "points": points,
        "sizes": all_sizes,
        "table": table,  # regime -> family -> size -> test sum accuracy (None: not trained)
        "run_id": parent.info.run_id,
        "seconds": time.perf_counter() - started,
    }
    save_probabilities(paths.probabilities, probabilities)
    write_json(paths.summary, out)
    # The curve as DVC metrics: regime -> family -> size -> test accuracy, every point measured (docs/results.md
    # renders the reference run's from them).
    measured = {r: {f: {n: v for n, v in table[r][f].items() if v is not None} for f in p.families} for r in regimes}
    curve = {r: {f: pts for f, pts in fams.items() if pts} for r, fams in measured.items()}
    write_metrics(paths.metrics, None, None, **curve, train_pairs=full, regime=",".join(regimes))
    return out


def _acc(points: list[dict], family: str, regime: str, n: int) -> float | None:
    point = find_point(points, family, regime, n)
    return None if point is None else point["test_accuracy"]
