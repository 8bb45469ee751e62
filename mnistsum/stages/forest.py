"""Stage `forest` (report section 5.3): the default forest, the max_depth sweep with the report's
overfitting rule (read on validation), and the min_samples tuning."""

from __future__ import annotations

from typing import Any

from mnistsum import figures
from mnistsum.engines import estimator
from mnistsum.figures import save_figure
from mnistsum.params import Params
from mnistsum.stages.grid import Paths, Point, load_data, run_grid, stage_run


def overfitting_depths(rows: list[dict], gap: float) -> list[int]:
    """Depths whose train-validation gap exceeds `gap` (the report used the train-test gap; here the test
    set chooses nothing)."""
    return [
        r["max_depth"]
        for r in sorted(rows, key=lambda r: r["max_depth"])
        if r["train_accuracy"] - r["val_accuracy"] > gap
    ]


def choose_depth(rows: list[dict], gap: float) -> int:
    """The report's rule: one below the first depth whose train-test gap exceeds `gap`. With a sparse
    list of depths, 'one below' is the deepest evaluated depth under it (the same for consecutive depths)."""
    depths = sorted(r["max_depth"] for r in rows)
    over = overfitting_depths(rows, gap)
    if not over:
        return depths[-1]
    below = [d for d in depths if d < over[0]]
    return below[-1] if below else over[0]


def fit_cost(point: Point) -> float:
    """How long a point's fit takes, as an order: the default (no depth bound, more pairs) longest, then by depth
    (a tree's fit grows with its depth until its leaves are pure)."""
    return float("inf") if point.part == "default" else point.params["max_depth"]


def run(params: Params, paths: Paths) -> dict:
    p, seed = params.forest, params.base.seed
    default_data = load_data(paths.data, p.default_fraction, seed)
    data = load_data(paths.data, p.train_fraction, seed)
    n_train = len(data.train.y)

    forest = estimator("RandomForestClassifier", p.engine)

    def make(**kw: Any):
        return forest(n_estimators=p.n_estimators, random_state=seed, n_jobs=1, **kw)

    def body(rid: str):
        default = Point("default", "default", {}, data=default_data)
        depth = [Point("depth", f"max_depth={d}", {"max_depth": d}) for d in p.max_depths]
        tuned = [
            Point(
                "tuned",
                f"max_depth={d} min_samples_split={s} min_samples_leaf={leaf}",
                {"max_depth": d, "min_samples_split": s, "min_samples_leaf": leaf},
            )
            for d in p.tuned_depths
            for s in p.min_samples_split
            for leaf in p.min_samples_leaf
        ]
        # One pool for all three parts (none reads another's result): the unbounded default on its larger share
        # of the pairs first, then the deepest trees.
        rows = run_grid(make, [default, *depth, *tuned], data, rid, "forest", p.n_jobs, n_train, longest=fit_cost)
        depth_rows = [r for r in rows if r["part"] == "depth"]
        tuned_rows = [r for r in rows if r["part"] == "tuned"]
        over = overfitting_depths(depth_rows, p.overfit_gap)
        chosen = choose_depth(depth_rows, p.overfit_gap)
        at = next(r for r in depth_rows if r["max_depth"] == chosen)
        summary = {
            "chosen": f"max_depth={chosen}",
            "default_val_accuracy": rows[0]["val_accuracy"],
            "default_test_accuracy": rows[0]["test_accuracy"],
            "default_train_accuracy": rows[0]["train_accuracy"],
            "overfitting_depths": ",".join(map(str, over)) or "none",
            "chosen_depth": chosen,
            "chosen_test_accuracy": at["test_accuracy"],
            "chosen_train_accuracy": at["train_accuracy"],
            "chosen_val_accuracy": at["val_accuracy"],
            "train_pairs": n_train,
            "default_train_pairs": len(default_data.train.y),
        }
        depths = [r["max_depth"] for r in depth_rows]
        fig16 = paths.plots / "forest_depth.png"
        save_figure(
            figures.depth_curves(
                depths,
                {s: [r[f"{s}_accuracy"] for r in depth_rows] for s in ("train", "val", "test")},
                "Random forest: accuracy against max_depth",
                over,
                chosen,
            ),
            fig16,
        )
        best_per_depth = [
            max((r for r in tuned_rows if r["max_depth"] == d), key=lambda r: r["val_accuracy"]) for d in p.tuned_depths
        ]
        fig17 = paths.plots / "forest_tuned.png"
        save_figure(
            figures.depth_curves(
                list(p.tuned_depths),
                {s: [r[f"{s}_accuracy"] for r in best_per_depth] for s in ("train", "val", "test")},
                "Random forest after min_samples tuning (best per depth)",
            ),
            fig17,
        )
        return rows, summary, [fig16, fig17]

    return stage_run(
        "forest",
        params,
        p,
        body,
        paths,
        "Random forest (report Figures 16-17)",
        headline=("chosen_val_accuracy", "chosen_test_accuracy"),
    )
