"""The convolutional families' stages (cnn, sumnet) and the learning curve across families, with what each
run reports: per-epoch curves, sum (and digit) confusion matrices, calibration, the sumnet's digit accuracy
against labels it never trains on, and inference throughput. Registration puts every family's model under its
own name and under the one cross-family name users pull."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistsum import figures, models, nn, tracking
from mnistsum.compare import calibration_bins, ece
from mnistsum.files import atomic_path, save_figure, write_json, write_metrics
from mnistsum.models.specs import Spec
from mnistsum.nn import Arrays
from mnistsum.pairs import N_CLASSES, Pairs
from mnistsum.params import Params
from mnistsum.studies import load_data


@dataclass
class FamilyOutputs:
    folder: Path  # model.keras, history.json, best.json
    plots: Path
    metrics: Path


def training_arrays(pairs: dict[str, Pairs]) -> Arrays:
    """Pixels and sums only: every family here trains without the digit labels the pair files keep."""
    return Arrays.sums_only(pairs["train"], pairs["val"], pairs["test"])


def digit_monitors(spec: Spec, pairs: dict[str, Pairs]) -> list:
    """The sumnet's digit accuracy on validation and test pairs each epoch, against the hidden digit labels:
    a measurement passed to the tracker, never to the loss."""
    if spec.family != "sumnet":
        return []
    from mnistsum.models import sumnet

    def measure(model) -> dict[str, float]:
        return {f"{split}_digit_accuracy": sumnet.digit_accuracy(model, p.x, p.top_label, p.bottom_label)
                for split, p in pairs.items() if split in ("val", "test")}

    return [measure]


def evaluate(model, spec: Spec, pairs: dict[str, Pairs], bins: int, plots: Path, name: str) -> tuple[dict, list[Path]]:
    """Everything a family's run reports once training is over: accuracy and ECE per split, the sum confusion
    matrix and reliability diagram on test; for the sumnet, digit accuracy (pairs' digits and the distinct MNIST
    test digits) and the digit confusion matrix."""
    out: dict[str, Any] = {}
    paths = []
    probas = {}
    for split in ("val", "test"):
        p = pairs[split]
        proba = nn.predict_proba(model, p.x)
        probas[split] = proba
        y = p.y.astype(np.int64)
        out[f"{split}_accuracy"] = float((proba.argmax(1) == y).mean())
        out[f"{split}_ece"] = ece(proba, y, bins)
    test = pairs["test"]
    y = test.y.astype(np.int64)
    cm = np.zeros((N_CLASSES, N_CLASSES), np.int64)
    np.add.at(cm, (y, probas["test"].argmax(1)), 1)
    paths.append(plots / f"{name}_sum_confusion.png")
    save_figure(figures.confusion_matrix(cm, f"{name}: sums of {len(test):,} test pairs"), paths[-1])
    paths.append(plots / f"{name}_reliability.png")
    save_figure(figures.reliability_diagram({f"{name} test": calibration_bins(probas["test"], y, bins)},
                                            f"{name}: reliability on test (ECE {out['test_ece']:.4f})"), paths[-1])
    if spec.family == "sumnet":
        from mnistsum.models import sumnet

        for split in ("val", "test"):
            p = pairs[split]
            out[f"{split}_digit_accuracy"] = sumnet.digit_accuracy(model, p.x, p.top_label, p.bottom_label)
        images, labels = test.unique_digits()
        encoder = model.get_layer(sumnet.ENCODER)
        pred = np.asarray(encoder.predict(images[..., None].astype(np.float32) / 255.0, batch_size=2048,
                                          verbose=0)).argmax(1)
        out["mnist_test_digit_accuracy"] = float((pred == labels).mean())
        out["mnist_test_digits"] = int(len(labels))
        dcm = np.zeros((10, 10), np.int64)
        np.add.at(dcm, (labels.astype(np.int64), pred), 1)
        paths.append(plots / f"{name}_digit_confusion.png")
        save_figure(figures.confusion_matrix(
            dcm, f"{name}: the encoder on {len(labels):,} distinct MNIST test digits (never trained on digit labels)",
            label="digit"), paths[-1])
    return out, paths


def run_family(stage: str, params: Params, data_dir: Path, outs: FamilyOutputs) -> dict:
    """Train the stage's family on the sum labels with early stopping on validation, report, save, register."""
    from mnistsum import registry

    started = time.perf_counter()
    section = getattr(params, stage)
    spec = section.model
    seed, batch = params.base.seed, params.base.batch_size
    stage_data = load_data(data_dir, section.train_fraction, seed)
    pairs = stage_data.pairs
    data = training_arrays(pairs)
    run_params = {"config": spec.to_dict(), stage: section.model_dump(exclude={"model"}), "seed": seed,
                  "batch_size": batch}
    with tracking.start_run("nn", stage, stage=stage, params=run_params, tags={"family": spec.family}) as run:
        rid = run.info.run_id
        tracking.log_datasets(rid, stage_data.inputs)
        t0 = time.perf_counter()
        result = nn.train(spec, data, section.max_epochs, batch, seed, run_id=rid, label=stage,
                          patience=section.patience, schedule=section.schedule,
                          monitors=digit_monitors(spec, pairs))
        train_seconds = time.perf_counter() - t0
        best_epoch = int(np.argmax(result.history["val_accuracy"])) + 1
        report, paths = evaluate(result.model, spec, pairs, params.compare.ece_bins, outs.plots, stage)
        report["pairs_per_second"] = nn.pairs_per_second(result.model, pairs["test"].x)
        report |= {"epochs_run": result.epochs_run, "best_epoch": best_epoch, "train_seconds": train_seconds,
                   "seconds_per_epoch": train_seconds / max(1, result.epochs_run),
                   "parameters": int(result.model.count_params())}
        paths.append(outs.plots / f"{stage}_accuracy.png")
        save_figure(figures.accuracy_curves({stage: result.history}, f"{stage}: sum accuracy per epoch"), paths[-1])
        tracking.log_metrics(rid, {f"final_{k}" if k.endswith("accuracy") else k: v for k, v in report.items()})
        tracking.log_files(rid, paths)
        outs.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(outs.folder / "model.keras", suffix=".keras") as tmp:
            result.model.save(tmp)
        write_json(outs.folder / "history.json", result.history)
        val = pairs["val"]
        versions = registry.log_and_register(
            result.model, rid, [section.model_name, params.base.best_model_name], params.base.alias,
            result.val_accuracy, val_x=val.x, val_y=val.y, data_ids=stage_data.ids,
            params=run_params | {"code": nn.code_digest()}, family=spec.family)
    summary = {"config": spec.to_dict(), "family": spec.family, "run_id": rid, "val_accuracy": result.val_accuracy,
               "test_accuracy": result.test_accuracy, **report, "registered": versions,
               "seconds": time.perf_counter() - started}
    write_json(outs.folder / "best.json", summary)
    headline = {k: report[k] for k in ("test_digit_accuracy", "mnist_test_digit_accuracy", "test_ece",
                                       "epochs_run", "pairs_per_second") if k in report}
    write_metrics(outs.metrics, result.val_accuracy, result.test_accuracy, summary["seconds"], **headline)
    print(f"{stage}: val {result.val_accuracy:.4f} test {result.test_accuracy:.4f}"
          + (f" digits {report['mnist_test_digit_accuracy']:.4f}" if "mnist_test_digit_accuracy" in report else "")
          + f" after {result.epochs_run} epochs ({train_seconds:.0f}s); "
          + "; ".join(f"{v['name']} v{v['version']} ({v['alias_action']})" for v in versions), flush=True)
    return summary


# ---------------------------------------------------------------- fewer training pairs


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

    def epochs(self, n: int, batch_size: int) -> int:
        return min(self.max_epochs, max(1, math.ceil(self.min_steps / math.ceil(n / batch_size))))

    def patience_epochs(self, n: int, full_n: int, batch_size: int) -> int:
        return max(self.patience, math.ceil(self.patience * math.ceil(full_n / batch_size) / math.ceil(n / batch_size)))


def fit_at_size(spec: Spec, pairs: dict[str, Pairs], n: int, budget: SmallBudget, batch_size: int, seed: int,
                run_id: str | None, label: str) -> dict[str, Any]:
    """Train spec's family on the first n training pairs (sum labels only) and score it on the whole test set.
    Returns accuracies, the test sum probabilities and, for the sumnet, its digit probabilities on test."""
    train = pairs["train"].head(n)
    val = pairs["val"]
    if budget.val_size < len(val):
        val = val.take(np.sort(np.random.default_rng(seed).choice(len(val), budget.val_size, replace=False)))
    data = Arrays.sums_only(train, val, pairs["test"])
    epochs = budget.epochs(n, batch_size)
    t0 = time.perf_counter()
    result = nn.train(spec, data, epochs, batch_size, seed, run_id=run_id, label=label,
                      patience=budget.patience_epochs(n, len(pairs["train"]), batch_size), schedule=budget.schedule,
                      track_test=False)
    out: dict[str, Any] = {"family": spec.family, "n": n, "val_accuracy": result.val_accuracy,
                           "test_accuracy": result.test_accuracy, "epochs": epochs, "epochs_run": result.epochs_run,
                           "train_seconds": time.perf_counter() - t0,
                           "_proba": nn.predict_proba(result.model, pairs["test"].x)}
    if spec.family == "sumnet":
        from mnistsum.models import sumnet

        test = pairs["test"]
        out["test_digit_accuracy"] = sumnet.digit_accuracy(result.model, test.x, test.top_label, test.bottom_label)
    return out


def family_specs(params: Params, final_config: Path) -> dict[str, Spec]:
    """Each family as its stage trains it: the MLP the studies chose (with the final stage's batch norm), the CNN
    and the sumnet of their own sections."""
    from mnistsum.studies import read_best

    return {"mlp": read_best(final_config).replace(batch_norm=params.final.batch_norm), "cnn": params.cnn.model,
            "sumnet": params.sumnet.model}


def run_learning_curve(params: Params, data_dir: Path, final_config: Path, stage_results: dict[str, Path],
                       plots_dir: Path, metrics_path: Path, summary_path: Path) -> dict:
    """Every family at each of `learning_curve.train_sizes` (one MLflow run each, nested under one parent), plus
    the stages' own runs as the point at all training pairs; one figure of test sum accuracy against size."""
    from mnistsum.files import read_json

    p, seed, batch = params.learning_curve, params.base.seed, params.base.batch_size
    started = time.perf_counter()
    specs = family_specs(params, final_config)
    stage_data = load_data(data_dir, 1.0, seed)
    pairs = stage_data.pairs
    sizes = sorted({min(n, len(pairs["train"])) for n in p.train_sizes})
    patience = {"mlp": params.final.patience, "cnn": params.cnn.patience, "sumnet": params.sumnet.patience}
    points: list[dict[str, Any]] = []
    with tracking.start_run("nn", "learning_curve", stage="learning_curve",
                            params={"learning_curve": p.model_dump(), "seed": seed, "batch_size": batch,
                                    **{f"config.{f}": specs[f].to_dict() for f in p.families}}) as parent:
        tracking.log_datasets(parent.info.run_id, stage_data.inputs)
        total = len(sizes) * len(p.families)
        for n in sizes:
            for family in p.families:
                budget = SmallBudget(p.min_steps, p.max_epochs, p.val_size, patience[family])
                name = f"{family} n={n}"
                with tracking.start_run("nn", name, stage="learning_curve", parent_run_id=parent.info.run_id,
                                        params={"family": family, "train_pairs": n, "config": specs[family].to_dict(),
                                                "epochs": budget.epochs(n, batch)},
                                        tags={"family": family}) as child:
                    r = fit_at_size(specs[family], pairs, n, budget, batch, seed, child.info.run_id,
                                    f"learning_curve {name}")
                    r.pop("_proba")
                    tracking.log_metrics(child.info.run_id, {f"final_{k}": r[k] for k in
                                                             ("val_accuracy", "test_accuracy", "test_digit_accuracy")
                                                             if k in r} | {"train_seconds": r["train_seconds"]})
                points.append(r | {"run_id": child.info.run_id})
                print(f"learning_curve: {len(points)}/{total} {name}: test {r['test_accuracy']:.4f} "
                      f"({r['epochs_run']} epochs, {r['train_seconds']:.0f}s)", flush=True)
        full = {}
        for family, path in stage_results.items():
            if family in p.families:
                best = read_json(path)
                full[family] = {"family": family, "n": len(pairs["train"]), "val_accuracy": best["val_accuracy"],
                                "test_accuracy": best["test_accuracy"], "run_id": best["run_id"], "stage_run": True}
                points.append(full[family])
        all_sizes = sorted({pt["n"] for pt in points})
        curves = {f: [next((pt["test_accuracy"] for pt in points if pt["family"] == f and pt["n"] == n), np.nan)
                      for n in all_sizes] for f in p.families}
        path = plots_dir / "learning_curve.png"
        save_figure(figures.lines_log_x(all_sizes, curves, "training pairs (sum labels only)", "test sum accuracy",
                                        "Learning curve: MLP vs CNN vs sumnet"), path)
        tracking.log_files(parent.info.run_id, [path])
        wins = {n: _acc(points, "sumnet", n) > _acc(points, "cnn", n) for n in all_sizes
                if _acc(points, "sumnet", n) is not None and _acc(points, "cnn", n) is not None}
        tracking.log_tags(parent.info.run_id, {"sumnet_ahead_of_cnn_at_every_size": str(all(wins.values())).lower()})
    out = {"points": points, "sizes": all_sizes, "sumnet_ahead_of_cnn": wins, "seconds": time.perf_counter() - started}
    write_json(summary_path, out)
    headline = {f"{f}_test_accuracy_at_{n}": _acc(points, f, n) for f in p.families for n in sizes}
    write_metrics(metrics_path, None, None, out["seconds"], **{k: v for k, v in headline.items() if v is not None})
    return out


def _acc(points: list[dict], family: str, n: int) -> float | None:
    return next((pt["test_accuracy"] for pt in points if pt["family"] == family and pt["n"] == n), None)
