"""What the report's classical baselines share (stages `logreg`, `svm`, `forest`): flattened pixels, grid
points fitted in parallel, one MLflow child run per point under the stage's parent, and the tables.

Grid points are fitted in parallel worker processes (the estimators here are single-threaded) and logged
to MLflow from the main process as they finish, one child run per point under the stage's parent run.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import io
import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from pydantic import BaseModel
from sklearn.exceptions import ConvergenceWarning

from mnistsum import figures, tracking
from mnistsum.data.pairs import Pairs, load_split, split_ids
from mnistsum.engines import engine_of, predict
from mnistsum.figures import save_figure
from mnistsum.files import write_json, write_metrics, write_text
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
    splits = {
        "train": _subset(train, max(1, int(len(train) * train_fraction)), seed),
        "val": _subset(val, cap, seed + 1),
        "test": _subset(test, cap, seed + 2),
    }
    inputs = tracking.pair_inputs(
        data_dir,
        split_ids(data_dir),
        {k: (v.x, v.y) for k, (v, _) in splits.items()},
        {k: how for k, (_, how) in splits.items() if how},
    )
    return Data(splits["train"][0], splits["val"][0], splits["test"][0], inputs)


@dataclass(frozen=True)
class Point:
    part: str  # which study of the stage: default, grid, max_iter, depth, tuned ...
    label: str  # child run name, e.g. "solver=sag C=0.1"
    params: dict[str, Any]
    # What it fits on where that is not the grid's data: the report's default point, on its own share of the
    # pairs, shares the grid's pool of workers instead of fitting alone on one core.
    data: Data | None = field(default=None, compare=False, repr=False)


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
    test_acc = float((predict(est, data.test.x) == data.test.y).mean())
    predict_s = time.perf_counter() - t0
    row = {
        "part": point.part,
        "label": point.label,
        **point.params,
        "train_accuracy": float((predict(est, data.train.x[tr]) == data.train.y[tr]).mean()),
        "val_accuracy": float((predict(est, data.val.x) == data.val.y).mean()),
        "test_accuracy": test_acc,
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
    }
    n_iter = getattr(est, "n_iter_", None)
    if n_iter is not None:
        row["n_iter"] = int(np.max(n_iter))
        row["converged"] = converged
        if not converged:
            row["warning"] = str(next(w.message for w in caught if issubclass(w.category, ConvergenceWarning)))
    return row


def fit_key(make: Callable[..., Any], point: Point, data_digest: str, train_eval: int) -> str:
    """What a point's numbers depend on: the estimator with every parameter it fits with (its seed too, and the
    defaults a point does not name), the data it sees, how it is scored and the code that fits it. Two points
    of one grid with equal fit keys are one fit: the forest's tuned `min_samples_split=2 min_samples_leaf=1` is
    its depth sweep's point of the same depth."""
    est = make(**point.params)
    code = [Path(__file__), Path(inspect.getsourcefile(make) or __file__)]
    blob = {
        "estimator": f"{type(est).__module__}.{type(est).__qualname__}",
        "params": {k: repr(v) for k, v in sorted(est.get_params().items())},
        "data": data_digest,
        "train_eval": train_eval,
        "code": [hashlib.sha256(f.read_bytes()).hexdigest() for f in code],
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:32]


def point_key(stage: str, make: Callable[..., Any], point: Point, data_digest: str, train_eval: int) -> str:
    """A point's identity: its stage, part and label, and what its numbers depend on (`fit_key`); equal keys fit
    the same numbers, so a resumed grid reuses them."""
    return _point_key(stage, point, fit_key(make, point, data_digest, train_eval))


def _point_key(stage: str, point: Point, fit: str) -> str:
    blob = [stage, point.part, point.label, fit]
    return hashlib.sha256(json.dumps(blob).encode()).hexdigest()[:32]


def data_digest(data: Data) -> str:
    h = hashlib.sha256()
    for split in (data.train, data.val, data.test):
        for a in (split.x, split.y):
            h.update(str((a.shape, a.dtype)).encode())
            h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def run_grid(
    make: Callable[..., Any],
    points: list[Point],
    data: Data,
    parent_run_id: str,
    stage: str,
    n_jobs: int,
    train_eval: int,
    on_row: Callable[[dict], None] | None = None,
    longest: Callable[[Point], float] | None = None,
    earlier: Sequence[tuple[Point, dict]] = (),
) -> list[dict]:
    """Fit every point (in parallel), log each as a child run as it finishes, print progress. A point already
    fitted by a run of this stage that was killed or failed (the same key: mnistsum.stages.grid.point_key) is
    taken from that run instead, so a long grid resumes where it stopped; points that are one fit (`fit_key`)
    are fitted once, each logged under its own label with a `same_fit_as` tag. `longest` foresees each point's cost:
    the workers take the costliest first, so no long fit ends the pool alone; rows come back in the points'
    order whatever the order of fitting (each fit is seeded on its own, so the order moves no number). `earlier`
    holds points an earlier grid of this stage fitted, with their rows: a point here that is the same fit as one of
    them is logged as its twin, not refitted (logistic regression's iteration sweep starts at its grid's own pick)."""
    started = time.perf_counter()
    rows: list[dict] = []
    by_label = {p.label: p for p in points}
    engine = engine_of(make())  # which library fits every point: a tag on each (mnistsum.engines)

    def data_of(point: Point) -> Data:
        return data if point.data is None else point.data

    digests = {id(d): data_digest(d) for d in {id(data_of(p)): data_of(p) for p in points}.values()}
    fits = {p.label: fit_key(make, p, digests[id(data_of(p))], train_eval) for p in points}
    keys = {p.label: _point_key(stage, p, fits[p.label]) for p in points}
    kept = tracking.finished_points("baselines", stage, parent_run_id, list(keys.values()))
    first = {}  # fit key -> the first point in the grid's order that fits it
    for p in points:
        first.setdefault(fits[p.label], p)

    before = {  # fit key -> (point, row) of an earlier grid's point
        fit_key(make, ep, digests.get(id(data_of(ep))) or data_digest(data_of(ep)), train_eval): (ep, row)
        for ep, row in earlier
    }

    def twin(row: dict, point: Point, fitted: Point) -> dict:
        """The row of a point that is the same fit as `fitted`, whose row it is, under its own part, label and
        params."""
        measured = {k: v for k, v in row.items() if k not in ("part", "label", *fitted.params)}
        return {"part": point.part, "label": point.label, **point.params, **measured}

    def log(row: dict, reused_from: str | None, same_fit_as: str | None = None) -> None:
        fitted = dict(row)  # as fitted, before on_row adds its flags
        if on_row:
            on_row(row)
        rows.append(row)
        point = by_label[row["label"]]
        params = {"part": point.part, **point.params}
        metrics = {
            k: row[k]
            for k in ("train_accuracy", "val_accuracy", "test_accuracy", "fit_seconds", "predict_seconds", "n_iter")
            if k in row
        }
        tags = {
            "part": row["part"],
            "engine": engine,
            tracking.POINT_KEY_TAG: keys[row["label"]],
            tracking.POINT_ROW_TAG: json.dumps(fitted),
        }
        if reused_from:
            tags["reused_from"] = reused_from
        if same_fit_as:
            tags["same_fit_as"] = same_fit_as
        if "converged" in row:
            tags["converged"] = str(row["converged"]).lower()
        if "warning" in row:
            tags["convergence_warning"] = row["warning"][:500]
        if "overfit" in row:
            tags["overfit"] = str(row["overfit"]).lower()
        with tracking.start_run(
            "baselines", row["label"], stage=stage, parent_run_id=parent_run_id, params=params, tags=tags, regime="sums"
        ) as child:
            tracking.log_metrics(child.info.run_id, metrics)
            tracking.log_datasets(child.info.run_id, data_of(point).inputs)
        best = max(rows, key=lambda r: r["val_accuracy"])
        print(
            f"{stage}: point {len(rows)}/{len(points)} {row['label']}: val {row['val_accuracy']:.4f} "
            f"test {row['test_accuracy']:.4f} ({row['fit_seconds']:.1f}s fit"
            + (f", kept from the stopped run's {reused_from[:8]}" if reused_from else "")
            + (f", the same fit as {same_fit_as}" if same_fit_as else "")
            + f") | elapsed {time.perf_counter() - started:.0f}s, "
            f"best val {best['val_accuracy']:.4f} ({best['label']})",
            flush=True,
        )

    for p in points:
        if keys[p.label] in kept:
            run_id, row = kept[keys[p.label]]
            log(row, run_id)
    twins: dict[str, list[Point]] = {}  # label of the point to fit -> the points it stands for, itself first
    for p in points:
        if keys[p.label] in kept:
            continue
        rep = first[fits[p.label]]
        if fits[p.label] in before:  # an earlier grid of this stage fitted it
            fitted, row = before[fits[p.label]]
            log(twin(row, p, fitted), None, fitted.label)
        elif keys[rep.label] in kept:  # its fit came back with the stopped run
            log(twin(kept[keys[rep.label]][1], p, rep), None, rep.label)
        else:
            twins.setdefault(rep.label, []).append(p)
    todo = [by_label[label] for label in twins]
    if longest is not None:
        todo.sort(key=longest, reverse=True)
    # The data goes to the worker once, as itself, not again inside its point.
    jobs = (delayed(fit_point)(make, replace(p, data=None), data_of(p), train_eval) for p in todo)
    for row in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs):
        as_fitted = dict(row)  # before log's on_row adds the rep's flags
        for p in twins[row["label"]]:
            if p.label == row["label"]:
                log(row, None)
            else:
                log(twin(as_fitted, p, by_label[row["label"]]), None, row["label"])
    order = {p.label: i for i, p in enumerate(points)}
    return sorted(rows, key=lambda r: order[r["label"]])


COLUMNS = (
    "part",
    "label",
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "fit_seconds",
    "predict_seconds",
    "n_iter",
    "converged",
    "overfit",
)


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


@dataclass(frozen=True)
class Paths:
    data: Path
    table: Path  # the results table: its .csv and .md are written
    summary: Path  # the whole summary (results/, JSON)
    metrics: Path  # headline numbers (DVC metrics)
    plots: Path


def stage_run(
    stage: str,
    params: Params,
    section: BaseModel,
    body: Callable[[str], tuple[list[dict], dict, list[Path]]],
    paths: Paths,
    title: str,
    headline: tuple[str, str] = ("best_val_accuracy", "best_test_accuracy"),
) -> dict:
    """The stage's parent run around `body` (which fits the grid), then its tables, summary and DVC metrics;
    `headline` names the summary's (val, test) keys of what the stage chose."""
    table_csv, table_md = paths.table.with_suffix(".csv"), paths.table.with_suffix(".md")
    started = time.perf_counter()
    with tracking.start_run(
        "baselines", stage, stage=stage, params={stage: section.model_dump(), "seed": params.base.seed}, regime="sums"
    ) as parent:
        rid = parent.info.run_id
        rows, summary, figs = body(rid)
        summary["seconds"] = time.perf_counter() - started
        summary["n_points"] = len(rows)
        summary["run_id"] = rid
        write_tables(rows, table_csv, table_md, title)
        write_json(paths.summary, summary)
        val, test = headline
        # The headline is the rule's pick on the grid's pairs, so it names the pick and the pairs, with the
        # report's default point beside it (fitted on its own, often larger, share of the pairs).
        write_metrics(
            paths.metrics,
            summary[val],
            summary[test],
            chosen=summary["chosen"],
            train_pairs=summary["train_pairs"],
            default_val_accuracy=summary["default_val_accuracy"],
            default_test_accuracy=summary["default_test_accuracy"],
            default_train_pairs=summary["default_train_pairs"],
            regime="sums",  # every grid point fits the given pairs' sums
        )
        tracking.log_metrics(
            rid, {k: v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        )
        tracking.log_tags(rid, {k: v for k, v in summary.items() if isinstance(v, str) and k != "run_id"})
        tracking.log_files(rid, [table_csv, table_md], folder="tables")
        tracking.log_files(rid, figs)
    print(f"{stage}: {len(rows)} points in {summary['seconds']:.0f}s")
    return summary


def best_of(rows: list[dict], part: str) -> dict:
    return max((r for r in rows if r["part"] == part), key=lambda r: r["val_accuracy"])


def curve_figure(rows: list[dict], x: str, group: str, title: str, path: Path) -> Path:
    groups = sorted({str(r[group]) for r in rows})
    xs = sorted({r[x] for r in rows})
    curves = {}
    for g in groups:
        for split in ("val", "test"):
            by_x = {r[x]: r[f"{split}_accuracy"] for r in rows if str(r[group]) == g}
            curves[f"{g} {split}"] = [by_x.get(v, np.nan) for v in xs]
    save_figure(figures.lines_log_x(xs, curves, x, "accuracy", title), path)
    return path
