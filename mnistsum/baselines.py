"""The report's classical baselines: logistic regression, SVM and random forest grids.

Grid points are fitted in parallel worker processes (the estimators here are single-threaded) and logged
to MLflow from the main process as they finish, one child run per point under the stage's parent run.
"""

from __future__ import annotations

import csv
import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from joblib import Parallel, delayed
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from mnistsum import figures, tracking
from mnistsum.files import save_figure, write_json, write_metrics, write_text
from mnistsum.pairs import Pairs, load_split, split_ids
from mnistsum.params import Params


@dataclass
class Split:
    x: np.ndarray
    y: np.ndarray


@dataclass
class Data:
    train: Split
    val: Split
    test: Split
    inputs: list = field(default_factory=list)  # MLflow dataset inputs: what every point of this data saw


def _subset(pairs: Pairs, n: int, seed: int) -> tuple[Split, str]:
    """A seeded subset of n pairs (all of them if n covers them), and how it was taken ("" for all)."""
    how = ""
    if n < len(pairs):
        pairs = pairs.take(np.sort(np.random.default_rng(seed).permutation(len(pairs))[:n]))
        how = f"{n} seed {seed}"
    return Split(pairs.flat(), pairs.y.astype(np.int64)), how


def load_data(data_dir: Path, train_fraction: float, seed: int, eval_size: int | None = None) -> Data:
    """Flattened [0, 1] pixels; a seeded fraction of training pairs, and optionally capped val/test sets."""
    train = load_split(data_dir, "train")
    val, test = load_split(data_dir, "val"), load_split(data_dir, "test")
    cap = eval_size or max(len(val), len(test))
    splits = {"train": _subset(train, max(1, int(len(train) * train_fraction)), seed),
              "val": _subset(val, cap, seed + 1), "test": _subset(test, cap, seed + 2)}
    inputs = tracking.pair_inputs(data_dir, split_ids(data_dir), {k: (v.x, v.y) for k, (v, _) in splits.items()},
                                  {k: how for k, (_, how) in splits.items() if how})
    return Data(splits["train"][0], splits["val"][0], splits["test"][0], inputs)


@dataclass(frozen=True)
class Point:
    part: str  # which study of the stage: default, grid, max_iter, depth, tuned ...
    label: str  # child run name, e.g. "solver=sag C=0.1"
    params: dict[str, Any]


def fit_point(make: Callable[..., Any], point: Point, data: Data, train_eval: int) -> dict[str, Any]:
    """Fit one estimator and measure it; convergence warnings are recorded, not silenced."""
    est = make(**point.params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t0 = time.perf_counter()
        est.fit(data.train.x, data.train.y)
        fit_s = time.perf_counter() - t0
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    # Scoring the whole training set is as slow as fitting for kernel methods; a fixed slice estimates it.
    tr = slice(0, min(train_eval, len(data.train.y)))
    t0 = time.perf_counter()
    test_acc = float((est.predict(data.test.x) == data.test.y).mean())
    predict_s = time.perf_counter() - t0
    row = {"part": point.part, "label": point.label, **point.params,
           "train_accuracy": float((est.predict(data.train.x[tr]) == data.train.y[tr]).mean()),
           "val_accuracy": float((est.predict(data.val.x) == data.val.y).mean()),
           "test_accuracy": test_acc, "fit_seconds": fit_s, "predict_seconds": predict_s}
    n_iter = getattr(est, "n_iter_", None)
    if n_iter is not None:
        row["n_iter"] = int(np.max(n_iter))
        row["converged"] = converged
        if not converged:
            row["warning"] = str(next(w.message for w in caught if issubclass(w.category, ConvergenceWarning)))
    return row


def run_grid(make: Callable[..., Any], points: list[Point], data: Data, parent_run_id: str, stage: str,
             n_jobs: int, train_eval: int, on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """Fit every point (in parallel), log each as a child run as it finishes, print progress."""
    started = time.perf_counter()
    rows: list[dict] = []
    by_label = {p.label: p for p in points}
    jobs = (delayed(fit_point)(make, p, data, train_eval) for p in points)
    for row in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs):
        if on_row:
            on_row(row)
        rows.append(row)
        point = by_label[row["label"]]
        params = {"part": point.part, **point.params}
        metrics = {k: row[k] for k in ("train_accuracy", "val_accuracy", "test_accuracy", "fit_seconds",
                                       "predict_seconds", "n_iter") if k in row}
        tags = {"part": row["part"]}
        if "converged" in row:
            tags["converged"] = str(row["converged"]).lower()
        if "warning" in row:
            tags["convergence_warning"] = row["warning"][:500]
        if "overfit" in row:
            tags["overfit"] = str(row["overfit"]).lower()
        with tracking.start_run("baselines", row["label"], stage=stage, parent_run_id=parent_run_id,
                                params=params, tags=tags) as child:
            tracking.log_metrics(child.info.run_id, metrics)
            tracking.log_datasets(child.info.run_id, data.inputs)
        best = max(rows, key=lambda r: r["val_accuracy"])
        print(f"{stage}: point {len(rows)}/{len(points)} {row['label']}: val {row['val_accuracy']:.4f} "
              f"test {row['test_accuracy']:.4f} ({row['fit_seconds']:.1f}s fit) | elapsed "
              f"{time.perf_counter() - started:.0f}s, best val {best['val_accuracy']:.4f} ({best['label']})", flush=True)
    order = {p.label: i for i, p in enumerate(points)}
    return sorted(rows, key=lambda r: order[r["label"]])


COLUMNS = ("part", "label", "train_accuracy", "val_accuracy", "test_accuracy", "fit_seconds", "predict_seconds",
           "n_iter", "converged", "overfit")


def write_tables(rows: list[dict], csv_path: Path, md_path: Path, title: str) -> None:
    """One row per grid point, as CSV for tools and Markdown laid out like the report's tables."""
    param_cols = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in COLUMNS and k != "warning"]
    cols = ["part", "label", *param_cols, *[c for c in COLUMNS[2:] if any(c in r for r in rows)]]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(csv_path, buf.getvalue())

    def fmt(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v))

    lines = [f"# {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    write_text(md_path, "\n".join(lines) + "\n")


@dataclass
class Outputs:
    table_csv: Path
    table_md: Path
    metrics: Path  # headline numbers (DVC metrics)
    plots: Path
    summary: Path  # the whole summary (results/, JSON)


# What each stage chose, as (val, test) keys of its summary: the headline of its DVC metrics.
HEADLINE = {"logreg": ("best_val_accuracy", "best_test_accuracy"), "svm": ("best_val_accuracy", "best_test_accuracy"),
            "forest": ("chosen_val_accuracy", "chosen_test_accuracy")}


def _stage_run(stage: str, params: Params, section: Any, body: Callable[[str], tuple[list[dict], dict, list[Path]]],
               outs: Outputs, title: str) -> dict:
    started = time.perf_counter()
    with tracking.start_run("baselines", stage, stage=stage,
                            params={stage: section.model_dump(), "seed": params.base.seed}) as parent:
        rid = parent.info.run_id
        rows, summary, figs = body(rid)
        summary["seconds"] = time.perf_counter() - started
        summary["n_points"] = len(rows)
        write_tables(rows, outs.table_csv, outs.table_md, title)
        write_json(outs.summary, summary)
        val, test = HEADLINE[stage]
        write_metrics(outs.metrics, summary[val], summary[test], summary["seconds"],
                      default_test_accuracy=summary["default_test_accuracy"], n_points=len(rows))
        tracking.log_metrics(rid, {k: v for k, v in summary.items() if isinstance(v, (int, float))
                                   and not isinstance(v, bool)})
        tracking.log_tags(rid, {k: v for k, v in summary.items() if isinstance(v, str)})
        tracking.log_files(rid, [outs.table_csv, outs.table_md], folder="tables")
        tracking.log_files(rid, figs)
    print(f"{stage}: {len(rows)} points in {summary['seconds']:.0f}s")
    return summary


def _best(rows: list[dict], part: str) -> dict:
    return max((r for r in rows if r["part"] == part), key=lambda r: r["val_accuracy"])


def _curve_figure(rows: list[dict], x: str, group: str, title: str, path: Path) -> Path:
    groups = sorted({str(r[group]) for r in rows})
    xs = sorted({r[x] for r in rows})
    curves = {}
    for g in groups:
        for split in ("val", "test"):
            by_x = {r[x]: r[f"{split}_accuracy"] for r in rows if str(r[group]) == g}
            curves[f"{g} {split}"] = [by_x.get(v, np.nan) for v in xs]
    save_figure(figures.lines_log_x(xs, curves, x, "accuracy", title), path)
    return path


# ---------------------------------------------------------------- logistic regression


def run_logreg(params: Params, data_dir: Path, outs: Outputs) -> dict:
    p, seed = params.logreg, params.base.seed
    default_data = load_data(data_dir, p.default_fraction, seed)
    data = load_data(data_dir, p.train_fraction, seed)

    def make(**kw: Any) -> LogisticRegression:
        return LogisticRegression(random_state=seed, **kw)

    def body(rid: str):
        rows = run_grid(make, [Point("default", "default", {"max_iter": p.default_max_iter})], default_data, rid,
                        "logreg", 1, len(data.val.y))
        grid = [Point("grid", f"solver={s} C={c:g}", {"solver": s, "C": c, "max_iter": p.grid_max_iter})
                for s in p.solvers for c in p.C]
        rows += run_grid(make, grid, data, rid, "logreg", p.n_jobs, len(data.val.y))
        best = _best(rows, "grid")
        iters = [Point("max_iter", f"max_iter={m} solver={best['solver']} C={best['C']:g}",
                       {"solver": best["solver"], "C": best["C"], "max_iter": m}) for m in p.max_iters]
        rows += run_grid(make, iters, data, rid, "logreg", p.n_jobs, len(data.val.y))
        default = rows[0]
        summary = {"default_test_accuracy": default["test_accuracy"], "default_train_accuracy": default["train_accuracy"],
                   "best_solver": best["solver"], "best_C": best["C"], "best_val_accuracy": best["val_accuracy"],
                   "best_test_accuracy": best["test_accuracy"], "train_pairs": len(data.train.y),
                   "default_train_pairs": len(default_data.train.y)}
        fig = _curve_figure([r for r in rows if r["part"] == "grid"], "C", "solver",
                            "Logistic regression: accuracy against C", outs.plots / "logreg_grid.png")
        return rows, summary, [fig]

    return _stage_run("logreg", params, p, body, outs, "Logistic regression (report Figures 13-14)")


# ---------------------------------------------------------------- SVM


def run_svm(params: Params, data_dir: Path, outs: Outputs) -> dict:
    p, seed = params.svm, params.base.seed
    default_data = load_data(data_dir, p.default_fraction, seed, p.eval_size)
    data = load_data(data_dir, p.train_fraction, seed, p.eval_size)

    def make(**kw: Any) -> SVC:
        return SVC(random_state=seed, **kw)

    def flag(row: dict) -> None:
        # Validation, not test: the test set chooses nothing (the report used the train-test gap).
        row["overfit"] = row["train_accuracy"] - row["val_accuracy"] > p.overfit_gap

    def body(rid: str):
        rows = run_grid(make, [Point("default", "default", {})], default_data, rid, "svm", 1, p.eval_size, flag)
        grid = [Point("grid", f"kernel={k} gamma={g} C={c:g}", {"kernel": k, "gamma": g, "C": c})
                for k in p.kernels for g in p.gammas for c in p.C]
        rows += run_grid(make, grid, data, rid, "svm", p.n_jobs, p.eval_size, flag)
        fair = [r for r in rows if r["part"] == "grid" and not r["overfit"]]
        best = _best(rows, "grid")
        summary = {"default_test_accuracy": rows[0]["test_accuracy"], "default_train_accuracy": rows[0]["train_accuracy"],
                   "best_label": best["label"], "best_val_accuracy": best["val_accuracy"],
                   "best_test_accuracy": best["test_accuracy"], "best_overfits": best["overfit"],
                   "n_overfit": sum(r.get("overfit", False) for r in rows if r["part"] == "grid"),
                   "best_non_overfit_label": max(fair, key=lambda r: r["val_accuracy"])["label"] if fair else "none",
                   "train_pairs": len(data.train.y), "default_train_pairs": len(default_data.train.y)}
        grid_rows = [r | {"kernel/gamma": f"{r['kernel']}/{r['gamma']}"} for r in rows if r["part"] == "grid"]
        fig = _curve_figure(grid_rows, "C", "kernel/gamma", "SVM: accuracy against C", outs.plots / "svm_grid.png")
        return rows, summary, [fig]

    return _stage_run("svm", params, p, body, outs, "Support vector machine (report Figure 15)")


# ---------------------------------------------------------------- random forest


def overfitting_depths(rows: list[dict], gap: float) -> list[int]:
    """Depths whose train-validation gap exceeds `gap` (the report used the train-test gap; here the test
    set chooses nothing)."""
    return [r["max_depth"] for r in sorted(rows, key=lambda r: r["max_depth"])
            if r["train_accuracy"] - r["val_accuracy"] > gap]


def choose_depth(rows: list[dict], gap: float) -> int:
    """The report's rule: one below the first depth whose train-test gap exceeds `gap`. With a sparse
    list of depths, 'one below' is the deepest evaluated depth under it (the same for consecutive depths)."""
    depths = sorted(r["max_depth"] for r in rows)
    over = overfitting_depths(rows, gap)
    if not over:
        return depths[-1]
    below = [d for d in depths if d < over[0]]
    return below[-1] if below else over[0]


def run_forest(params: Params, data_dir: Path, outs: Outputs) -> dict:
    p, seed = params.forest, params.base.seed
    default_data = load_data(data_dir, p.default_fraction, seed)
    data = load_data(data_dir, p.train_fraction, seed)
    n_train = len(data.train.y)

    def make(**kw: Any) -> RandomForestClassifier:
        return RandomForestClassifier(n_estimators=p.n_estimators, random_state=seed, n_jobs=1, **kw)

    def body(rid: str):
        rows = run_grid(make, [Point("default", "default", {})], default_data, rid, "forest", 1, n_train)
        depth = [Point("depth", f"max_depth={d}", {"max_depth": d}) for d in p.max_depths]
        depth_rows = run_grid(make, depth, data, rid, "forest", p.n_jobs, n_train)
        tuned = [Point("tuned", f"max_depth={d} min_samples_split={s} min_samples_leaf={leaf}",
                       {"max_depth": d, "min_samples_split": s, "min_samples_leaf": leaf})
                 for d in p.tuned_depths for s in p.min_samples_split for leaf in p.min_samples_leaf]
        tuned_rows = run_grid(make, tuned, data, rid, "forest", p.n_jobs, n_train)
        rows += depth_rows + tuned_rows
        over = overfitting_depths(depth_rows, p.overfit_gap)
        chosen = choose_depth(depth_rows, p.overfit_gap)
        at = next(r for r in depth_rows if r["max_depth"] == chosen)
        summary = {"default_test_accuracy": rows[0]["test_accuracy"], "default_train_accuracy": rows[0]["train_accuracy"],
                   "overfitting_depths": ",".join(map(str, over)) or "none", "chosen_depth": chosen,
                   "chosen_test_accuracy": at["test_accuracy"], "chosen_train_accuracy": at["train_accuracy"],
                   "chosen_val_accuracy": at["val_accuracy"], "train_pairs": n_train,
                   "default_train_pairs": len(default_data.train.y)}
        depths = [r["max_depth"] for r in depth_rows]
        fig16 = outs.plots / "forest_depth.png"
        save_figure(figures.depth_curves(depths, {s: [r[f"{s}_accuracy"] for r in depth_rows]
                                                  for s in ("train", "val", "test")},
                                         "Random forest: accuracy against max_depth", over, chosen), fig16)
        best_per_depth = [max((r for r in tuned_rows if r["max_depth"] == d), key=lambda r: r["val_accuracy"])
                          for d in p.tuned_depths]
        fig17 = outs.plots / "forest_tuned.png"
        save_figure(figures.depth_curves(list(p.tuned_depths), {s: [r[f"{s}_accuracy"] for r in best_per_depth]
                                                                for s in ("train", "val", "test")},
                                         "Random forest after min_samples tuning (best per depth)"), fig17)
        return rows, summary, [fig16, fig17]

    return _stage_run("forest", params, p, body, outs, "Random forest (report Figures 16-17)")
