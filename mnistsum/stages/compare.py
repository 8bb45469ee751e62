"""Stage `compare`, the report's Question 4: one linear classifier on the 56x28 pairs against one applied to each digit
in turn, with the sum's distribution from the digit probabilities (a convolution), not only argmax+argmax;
and beside them the sumnet, a sequential classifier that learns its digits from the sums alone. The sumnet is
not trained here: its points (and test probabilities) are the learning curve's, in the `sums` regime.

Regimes: the combined classifier fits the given pairs' sums (`sums`); the sequential one fits each digit with its
digit label (`digit-labels`, the report's way); the sumnet sees sums only (`sums`)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning

from mnistsum import figures, tracking
from mnistsum.data.pairs import N_CLASSES, Pairs, load_split, split_ids
from mnistsum.engines import estimator
from mnistsum.errors import InputError
from mnistsum.figures import save_figure
from mnistsum.files import write_json, write_metrics
from mnistsum.metrics import calibration_bins, one_hot, scores
from mnistsum.models import served
from mnistsum.params import Compare, Params
from mnistsum.stages.points import find_point, point_key, read_points

LABELS = {
    "combined": "combined (56x28)",
    "sequential_argmax": "sequential, argmax + argmax (report)",
    "sequential_convolved": "sequential, convolved probabilities",
}
SUMNET_LABEL = "sumnet (sequential, no digit labels)"
# What each compared model trains on: the tag and metrics key `regime` says it.
REGIMES = {"combined": "sums", "sequential": "digit-labels", "sumnet": "sums"}


def sum_distribution(p_top: np.ndarray, p_bottom: np.ndarray) -> np.ndarray:
    """The sum's distribution from two digit distributions, as numpy: the project's one convolution
    (served.sum_distribution, which the sumnet trains through)."""
    import keras  # deferred: the joblib workers import this module and must not load TensorFlow

    return np.asarray(keras.ops.convert_to_numpy(served.sum_distribution(p_top, p_bottom)))


def deconstruct(pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom digits as flat [0, 1] rows, with their digit labels, stacked (2n rows)."""
    top, bottom = pairs.digits()
    x = np.concatenate([top, bottom]).reshape(2 * len(pairs), -1).astype(np.float32) / 255.0
    return x, np.concatenate([pairs.top_label, pairs.bottom_label]).astype(np.int64)


def _fit(x: np.ndarray, y: np.ndarray, solver: str, C: float, max_iter: int, seed: int, engine: str = "stock"):
    logistic = estimator("LogisticRegression", engine)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t0 = time.perf_counter()
        model = logistic(solver=solver, C=C, max_iter=max_iter, random_state=seed).fit(x, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, time.perf_counter() - t0, converged


def _full_proba(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities over every class, with zeros for classes absent from a small training set."""
    out = np.zeros((len(x), n_classes))
    out[:, model.classes_] = model.predict_proba(x)
    return out


def fit_part(
    sub: Pairs, test: Pairs, part: str, solver: str, C: float, max_iter: int, seed: int, engine: str = "stock"
) -> dict:
    """One of a size's two fits, with its test probabilities: the `combined` classifier on the pairs' pixels and
    sums, or the `sequential` one on each digit with its digit label (probabilities per test digit, the top
    digits first)."""
    if part == "combined":
        x, y, x_test, n_classes = sub.flat(), sub.y.astype(np.int64), test.flat(), N_CLASSES
    else:
        (x, y), x_test, n_classes = deconstruct(sub), deconstruct(test)[0], 10
    model, seconds, converged = _fit(x, y, solver, C, max_iter, seed, engine)
    proba = _full_proba(model, x_test, n_classes)
    return {"n": len(sub), "part": part, "seconds": seconds, "converged": converged, "proba": proba}


def fit_sizes(train: Pairs, test: Pairs, sizes: list[int], p: Compare, seed: int) -> list[dict]:
    """Both fits at every size, each fit a job of its own, the costliest first: the combined fit at the largest
    size takes most of the stage, so the other fits run beside it rather than after it (each is seeded on its
    own: the order moves no number). One result per size, smallest first."""
    parts = sorted(
        ((n, part) for n in sizes for part in ("combined", "sequential")), key=lambda job: (-job[0], job[1])
    )  # combined: twice the sequential's features per row
    jobs = (
        delayed(fit_part)(train.head(n), test, part, p.solver, p.C, p.max_iter, seed, p.engine) for n, part in parts
    )
    done = {(r["n"], r["part"]): r for r in Parallel(n_jobs=p.n_jobs)(jobs)}
    results = []
    for n in sizes:
        combined, sequential = done[n, "combined"], done[n, "sequential"]
        p_digits = sequential["proba"]
        results.append(
            {
                "n": n,
                "fit_seconds_combined": combined["seconds"],
                "fit_seconds_sequential": sequential["seconds"],
                "converged_combined": combined["converged"],
                "converged_sequential": sequential["converged"],
                "digit_accuracy": float(
                    (p_digits.argmax(axis=1) == np.concatenate([test.top_label, test.bottom_label])).mean()
                ),
                # Scored in the parent process: the convolution is Keras code, kept out of the worker processes.
                "_proba": {"combined": combined["proba"]},
                "_digits": p_digits,
            }
        )
    return results


def score_size(r: dict, test: Pairs, bins: int) -> dict:
    """Add the three linear scorings to one size's result: combined, argmax + argmax, and convolved."""
    y = test.y.astype(np.int64)
    p_digits = r.pop("_digits")
    p_top, p_bottom = p_digits[: len(test)], p_digits[len(test) :]
    p_conv = sum_distribution(p_top, p_bottom)
    # The report's scoring: add the two argmax digits. As a distribution that is a point mass.
    p_argmax = one_hot(p_top.argmax(axis=1) + p_bottom.argmax(axis=1), N_CLASSES)
    r["_proba"]["sequential_convolved"] = p_conv
    return r | {
        "combined": scores(r["_proba"]["combined"], y, bins),
        "sequential_argmax": scores(p_argmax, y, bins),
        "sequential_convolved": scores(p_conv, y, bins),
    }


@dataclass(frozen=True)
class Paths:
    data: Path
    plots: Path
    metrics: Path  # headline metrics JSON
    summary: Path  # every size's scores (JSON)
    curve: Path | None = None  # the learning curve's summary JSON (with compare.sumnet)
    curve_probabilities: Path | None = None  # and its test probabilities (.npz)


def run(params: Params, paths: Paths) -> dict:
    data_dir, plots_dir, metrics_path, summary_path = paths.data, paths.plots, paths.metrics, paths.summary
    p, seed, bins = params.compare, params.base.seed, params.base.ece_bins
    train, test = (load_split(data_dir, split) for split in ("train", "test"))
    curve_points, curve_probabilities = [], {}
    if p.sumnet:
        if paths.curve is None or paths.curve_probabilities is None:
            raise InputError("compare.sumnet is true: give the learning curve's --curve and --curve-probabilities")
        curve_points, curve_probabilities = read_points(paths.curve, paths.curve_probabilities)
    sizes = sorted({min(s, len(train)) for s in p.train_sizes})
    ids = split_ids(data_dir)
    started = time.perf_counter()
    results = []
    with tracking.start_run(
        "compare",
        "compare",
        stage="compare",
        params={
            "compare": p.model_dump(),
            "seed": seed,
            "sumnet": "the learning curve's (sums)" if p.sumnet else "off",
        },
        regime=",".join(sorted(set(REGIMES.values()))),
        tags={f"regime.{k}": v for k, v in REGIMES.items()},
    ) as parent:
        for r in fit_sizes(train, test, sizes, p, seed):
            r = score_size(r, test, bins)
            with tracking.start_run(
                "compare",
                f"train_pairs={r['n']}",
                stage="compare",
                parent_run_id=parent.info.run_id,
                params={"train_pairs": r["n"], "solver": p.solver, "C": p.C, "max_iter": p.max_iter},
                tags={
                    "converged_combined": str(r["converged_combined"]).lower(),
                    "converged_sequential": str(r["converged_sequential"]).lower(),
                }
                | {f"regime.{k}": v for k, v in REGIMES.items()},
                regime=",".join(sorted(set(REGIMES.values()))),
            ) as child:
                point = find_point(curve_points, "sumnet", "sums", r["n"]) if p.sumnet else None
                # At all pairs the curve's point may be the sumnet stage's own run, whose test probabilities the
                # curve does not keep: the sumnet stands here only where the learning curve trained it.
                if point is not None and not point.get("stage_run"):
                    proba = curve_probabilities[point_key("sumnet", "sums", r["n"])]
                    if len(proba) != len(test):
                        raise InputError(
                            f"{paths.curve_probabilities}: sumnet/sums/{r['n']} has {len(proba)} test rows; "
                            f"expected {len(test)} (the learning curve ran on other pairs: dvc repro learning_curve)"
                        )
                    r["_proba"]["sumnet"] = proba
                    r["sumnet"] = scores(proba, test.y.astype(np.int64), bins)
                    r["sumnet_digit_accuracy"] = point["test_digit_accuracy"]
                    r["sumnet_epochs_run"] = point["epochs_run"]
                    r["sumnet_run_id"] = point["run_id"]
                    tracking.log_tags(child.info.run_id, {"sumnet_run_id": point["run_id"]})
                models = [*LABELS, *(["sumnet"] if "sumnet" in r else [])]
                metrics = {f"{model}.{k}": v for model in models for k, v in r[model].items()}
                metrics |= {
                    k: r[k]
                    for k in (
                        "fit_seconds_combined",
                        "fit_seconds_sequential",
                        "digit_accuracy",
                        "sumnet_digit_accuracy",
                    )
                    if k in r
                }
                tracking.log_metrics(child.info.run_id, metrics)
                sub = train.head(r["n"])
                tracking.log_datasets(
                    child.info.run_id,
                    tracking.pair_inputs(
                        data_dir,
                        ids,
                        {"train": (sub.x, sub.y), "test": (test.x, test.y)},
                        {"train": f"first {r['n']}"} if r["n"] < len(train) else None,
                    ),
                )
            results.append(r)
            print(
                f"compare: size {len(results)}/{len(sizes)} n={r['n']}: combined {r['combined']['accuracy']:.3f}, "
                f"sequential argmax {r['sequential_argmax']['accuracy']:.3f}, convolved "
                f"{r['sequential_convolved']['accuracy']:.3f}"
                + (f", sumnet {r['sumnet']['accuracy']:.3f}" if "sumnet" in r else "")
                + f" ({time.perf_counter() - started:.0f}s)",
                flush=True,
            )
        largest = results[-1]
        labels = LABELS | {"sumnet": SUMNET_LABEL}
        shown = [*LABELS, *(["sumnet"] if any("sumnet" in r for r in results) else [])]
        curves = {labels[m]: [r[m]["accuracy"] if m in r else np.nan for r in results] for m in shown}
        acc_path = plots_dir / "compare_accuracy.png"
        save_figure(
            figures.lines_log_x(sizes, curves, "training pairs", "test accuracy", "Combined vs sequential classifiers"),
            acc_path,
        )
        y = test.y.astype(np.int64)
        rel_path = plots_dir / "compare_reliability.png"
        save_figure(
            figures.reliability_diagram(
                {labels[name]: calibration_bins(proba, y, bins) for name, proba in largest["_proba"].items()},
                f"Reliability at {largest['n']} training pairs",
            ),
            rel_path,
        )
        tracking.log_files(parent.info.run_id, [acc_path, rel_path])
        never_loses = all(r["sequential_convolved"]["log_loss"] <= r["sequential_argmax"]["log_loss"] for r in results)
        tracking.log_tags(parent.info.run_id, {"convolved_never_loses_log_loss": str(never_loses).lower()})
    out = {
        "sizes": [{k: v for k, v in r.items() if k != "_proba"} for r in results],
        "convolved_never_loses_log_loss": never_loses,
        "run_id": parent.info.run_id,
        "seconds": time.perf_counter() - started,
    }
    write_json(summary_path, out)
    headline = {"sumnet_test_accuracy": largest["sumnet"]["accuracy"]} if "sumnet" in largest else {}
    write_metrics(
        metrics_path,
        None,
        None,
        train_pairs=largest["n"],
        combined_test_accuracy=largest["combined"]["accuracy"],
        sequential_test_accuracy=largest["sequential_convolved"]["accuracy"],
        **headline,
        regime={k: v for k, v in REGIMES.items() if k != "sumnet" or headline},
    )
    return out
