"""Stage `svm` (report section 5.2): the default SVM and the kernel x gamma x C grid, each point flagged
overfit by its train-validation gap."""

from __future__ import annotations

from typing import Any

from mnistsum.engines import estimator
from mnistsum.params import Params
from mnistsum.stages.grid import Paths, Point, best_of, curve_figure, load_data, run_grid, stage_run


def run(params: Params, paths: Paths) -> dict:
    p, seed = params.svm, params.base.seed
    default_data = load_data(paths.data, p.default_fraction, seed, p.eval_size)
    data = load_data(paths.data, p.train_fraction, seed, p.eval_size)

    svc = estimator("SVC", p.engine)

    def make(**kw: Any):
        return svc(random_state=seed, **kw)

    def flag(row: dict) -> None:
        # Validation, not test: the test set chooses nothing (the report used the train-test gap).
        row["overfit"] = row["train_accuracy"] - row["val_accuracy"] > p.overfit_gap

    def body(rid: str):
        rows = run_grid(
            make,
            [Point("default", "default", {"gamma": p.default_gamma})],
            default_data,
            rid,
            "svm",
            1,
            p.eval_size,
            flag,
        )
        grid = [
            Point("grid", f"kernel={k} gamma={g} C={c:g}", {"kernel": k, "gamma": g, "C": c})
            for k in p.kernels
            for g in p.gammas
            for c in p.C
        ]
        rows += run_grid(make, grid, data, rid, "svm", p.n_jobs, p.eval_size, flag)
        fair = [r for r in rows if r["part"] == "grid" and not r["overfit"]]
        best = best_of(rows, "grid")
        summary = {
            "chosen": best["label"],
            "default_val_accuracy": rows[0]["val_accuracy"],
            "default_test_accuracy": rows[0]["test_accuracy"],
            "default_train_accuracy": rows[0]["train_accuracy"],
            "best_label": best["label"],
            "best_val_accuracy": best["val_accuracy"],
            "best_test_accuracy": best["test_accuracy"],
            "best_overfits": best["overfit"],
            "n_overfit": sum(r.get("overfit", False) for r in rows if r["part"] == "grid"),
            "best_non_overfit_label": max(fair, key=lambda r: r["val_accuracy"])["label"] if fair else "none",
            "train_pairs": len(data.train.y),
            "default_train_pairs": len(default_data.train.y),
        }
        grid_rows = [r | {"kernel/gamma": f"{r['kernel']}/{r['gamma']}"} for r in rows if r["part"] == "grid"]
        fig = curve_figure(grid_rows, "C", "kernel/gamma", "SVM: accuracy against C", paths.plots / "svm_grid.png")
        return rows, summary, [fig]

    return stage_run("svm", params, p, body, paths, "Support vector machine (report Figure 15)")
