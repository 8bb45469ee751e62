"""Stage `logreg` (report section 5.1): the default logistic regression, the solver x C grid and the
max_iter sweep of the best point."""

from __future__ import annotations

from typing import Any

from mnistsum.engines import estimator
from mnistsum.params import Params
from mnistsum.stages.grid import Paths, Point, best_of, curve_figure, load_data, run_grid, stage_run


def run(params: Params, paths: Paths) -> dict:
    p, seed = params.logreg, params.base.seed
    default_data = load_data(paths.data, p.default_fraction, seed)
    data = load_data(paths.data, p.train_fraction, seed)

    logistic = estimator("LogisticRegression", p.engine)

    def make(**kw: Any):
        return logistic(random_state=seed, **kw)

    def body(rid: str):
        grid = [
            Point("grid", f"solver={s} C={c:g}", {"solver": s, "C": c, "max_iter": p.grid_max_iter})
            for s in p.solvers
            for c in p.C
        ]
        grid_rows = run_grid(make, grid, data, rid, "logreg", p.n_jobs, len(data.val.y))
        best = best_of(grid_rows, "grid")
        iters = [
            Point(
                "max_iter",
                f"max_iter={m} solver={best['solver']} C={best['C']:g}",
                {"solver": best["solver"], "C": best["C"], "max_iter": m},
            )
            for m in p.max_iters
        ]
        # The default point reads nothing of the grid, so it fits beside the sweep (which waits for the grid's
        # pick), on the worker the shorter sweep points leave free, the most iterations first.
        default_point = Point("default", "default", {"max_iter": p.default_max_iter}, data=default_data)
        rest = run_grid(
            make,
            [default_point, *iters],
            data,
            rid,
            "logreg",
            p.n_jobs,
            len(data.val.y),
            longest=lambda point: point.params["max_iter"] if point.part == "max_iter" else 0,
            # the sweep's point at the grid's iterations is the grid's pick itself: logged as its twin, not refitted
            earlier=[(next(point for point in grid if point.label == best["label"]), best)],
        )
        default = rest[0]
        rows = [default, *grid_rows, *rest[1:]]
        summary = {
            "chosen": best["label"],
            "default_val_accuracy": default["val_accuracy"],
            "default_test_accuracy": default["test_accuracy"],
            "default_train_accuracy": default["train_accuracy"],
            "best_solver": best["solver"],
            "best_C": best["C"],
            "best_val_accuracy": best["val_accuracy"],
            "best_test_accuracy": best["test_accuracy"],
            "train_pairs": len(data.train.y),
            "default_train_pairs": len(default_data.train.y),
        }
        fig = curve_figure(
            [r for r in rows if r["part"] == "grid"],
            "C",
            "solver",
            "Logistic regression: accuracy against C",
            paths.plots / "logreg_grid.png",
        )
        return rows, summary, [fig]

    return stage_run("logreg", params, p, body, paths, "Logistic regression (report Figures 13-14)")
