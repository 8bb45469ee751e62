"""The report's scale (profiles/report.yaml) projected from one default run's measured costs, stage by stage.

It reads the run's MLflow store: every study trial's seconds per epoch and the epochs it ran before pruning, the
activation and final networks' seconds per epoch, the scikit-learn grid points' fit and predict seconds, the
stages' own times; and scales each by what the report's profile changes (epochs, training pairs, trials, grid
points), with the cost model said beside each row: training time in proportion to epochs x pairs; the SVC's fit
to the square of its pairs (libsvm and oneDAL both), its prediction to its support vectors (as many as its
pairs) x the pairs it scores; a forest to its pairs; logistic regression to pairs x iterations. The studies'
trials run two at a time (base.local_workers), as in the measured run, and are pruned as often.

  .venv/bin/python benchmarks/project_report_scale.py --run /path/to/clone --out docs/speed/projection-report.json

The projection is an estimate to plan by: the run itself is the measurement.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from mnistsum.machine import machine
from mnistsum.params import load_params

sys.path.insert(0, str(Path(__file__).parent))
from stage_times import stage_times  # noqa: E402


def newest_parent(client: MlflowClient, stage: str):
    runs = [
        r
        for e in client.search_experiments()
        for r in client.search_runs([e.experiment_id], f"tags.`dvc.stage` = '{stage}'", max_results=2000)
        if "mlflow.parentRunId" not in r.data.tags
    ]
    return max(runs, key=lambda r: r.info.start_time) if runs else None


def children(client: MlflowClient, parent) -> list:
    return client.search_runs(
        [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'", max_results=5000
    )


def epoch_seconds(client: MlflowClient, run) -> float:
    history = client.get_metric_history(run.info.run_id, "epoch_seconds")
    return statistics.median(m.value for m in history) if history else float("nan")


def pool_seconds(fits: list[float], workers: int) -> float:
    """A pool's time: its fits shared among its workers, and never less than its longest fit (one worker runs
    it alone, however many are free)."""
    return max(sum(fits) / workers, max(fits, default=0.0))


def project(root: Path, report: Path) -> dict:
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    default = load_params(root / "params.yaml")
    scaled = load_params(root / "params.yaml", report)
    pairs = json.loads((root / "results" / "prepare.json").read_text())["sizes"]["train"]
    measured = stage_times(root / "mlruns" / "mlflow.db")
    rows = []

    def row(stage: str, seconds: float, how: str) -> None:
        rows.append(
            {
                "stage": stage,
                "measured_s": (measured.get(stage) or {}).get("seconds"),
                "projected_s": seconds,
                "how": how,
            }
        )

    for stage in ("study1", "study2", "study3", "study4"):
        d, r = getattr(default, stage), getattr(scaled, stage)
        trials = children(client, newest_parent(client, stage))
        per_epoch = statistics.median(epoch_seconds(client, t) for t in trials) / (d.train_fraction * pairs)
        ran = statistics.mean(t.data.metrics.get("epochs_run", d.epochs) for t in trials) / d.epochs
        workers = default.base.local_workers
        seconds = r.n_trials * r.epochs * ran * per_epoch * r.train_fraction * pairs / workers
        row(
            stage,
            seconds,
            f"{r.n_trials} trials x {r.epochs} epochs x {ran:.0%} run before pruning (measured) x "
            f"{per_epoch * 1e6:.1f} s per epoch per 10^6 pairs x {r.train_fraction * pairs:,.0f} pairs / "
            f"{workers} workers",
        )
    act = children(client, newest_parent(client, "activation"))
    per_epoch = statistics.median(epoch_seconds(client, t) for t in act) / (default.activation.train_fraction * pairs)
    a = scaled.activation
    row(
        "activation",
        len(a.activations) * a.epochs * per_epoch * a.train_fraction * pairs,
        f"{len(a.activations)} networks x {a.epochs} epochs x {a.train_fraction * pairs:,.0f} pairs",
    )
    final = newest_parent(client, "final")
    f = scaled.final
    row("final", f.max_epochs * epoch_seconds(client, final), f"at most {f.max_epochs} epochs at the measured epoch")
    for stage in ("cnn", "sumnet", "tsne"):
        row(stage, measured[stage]["seconds"], "unchanged by the profile")
    extra = sum(
        measured[s]["seconds"] for s in ("cnn", "sumnet") if "digits" in scaled.learning_curve.full_size_regimes
    )
    row(
        "learning_curve",
        measured["learning_curve"]["seconds"] + extra / default.base.local_workers,
        "as measured, plus the CNN and the sumnet in digits at all pairs (a stage's time each, two at a time)",
    )
    grid = {
        s: [(c.data.tags.get("part"), c.data.metrics) for c in children(client, newest_parent(client, s))]
        for s in ("logreg", "svm", "forest")
    }
    lg, lr = default.logreg, scaled.logreg
    scale = lr.train_fraction / lg.train_fraction
    grid_fits = [m["fit_seconds"] * scale for part, m in grid["logreg"] if part == "grid"]
    # The sweep's solver per iteration, as the default run measured its own sweep (its pick's solver and C): a
    # grid median would mix lbfgs's cheap iterations with sag's, ten times dearer.
    per_iteration = statistics.median(
        m["fit_seconds"] / m["n_iter"] for part, m in grid["logreg"] if part == "max_iter" and m.get("n_iter")
    )
    # the sweep's point at the grid's iterations is the grid's pick, not fitted again (mnistsum.stages.logreg)
    sweep_fits = [per_iteration * scale * n for n in lr.max_iters if n != lr.grid_max_iter]
    default_fit = sum(m["fit_seconds"] for part, m in grid["logreg"] if part == "default")
    default_fit *= lr.default_fraction / lg.default_fraction
    row(
        "logreg",
        pool_seconds(grid_fits, lr.n_jobs) + pool_seconds([default_fit, *sweep_fits], lr.n_jobs),
        f"the grid x pairs; then the default as measured x pairs beside the iteration sweep x pairs x iterations "
        f"(but its {lr.grid_max_iter}, the grid's pick) "
        f"({max(sweep_fits):,.0f} s its longest fit); each pool {lr.n_jobs} fits at a time, never shorter than "
        "its longest fit",
    )
    sd, sr = default.svm, scaled.svm
    by_part = {p: [m for part, m in grid["svm"] if part == p] for p in ("default", "grid")}
    fit_scale = lambda d, r: (r / d) ** 2  # noqa: E731
    row(
        "svm",
        sum(m["fit_seconds"] * fit_scale(sd.default_fraction, sr.default_fraction) for m in by_part["default"])
        + (
            sum(m["fit_seconds"] * fit_scale(sd.train_fraction, sr.train_fraction) for m in by_part["grid"])
            + sum(
                m["predict_seconds"] * (sr.train_fraction / sd.train_fraction) * (sr.eval_size / sd.eval_size)
                for m in by_part["grid"]
            )
        )
        / sr.n_jobs,
        f"fits x pairs^2 ({sr.default_fraction:g} and {sr.train_fraction:g} of the pairs); predictions x support "
        f"vectors x {sr.eval_size:,} scored; the grid {sr.n_jobs} fits at a time",
    )
    fd, fr = default.forest, scaled.forest
    fits = [(part, m["fit_seconds"] + m.get("predict_seconds", 0)) for part, m in grid["forest"]]
    tuned = [s for part, s in fits if part == "tuned"]
    row(
        "forest",
        sum(s for part, s in fits if part == "default")
        + (
            sum(s for part, s in fits if part == "depth") * fr.train_fraction / fd.train_fraction
            + (statistics.mean(tuned) if tuned else 0)
            * fr.train_fraction
            / fd.train_fraction
            * len(fr.tuned_depths)
            * len(fr.min_samples_split)
            * len(fr.min_samples_leaf)
        )
        / fr.n_jobs,
        f"the depth sweep and the tuned grid x pairs, the tuned grid x its points; {fr.n_jobs} fits at a time",
    )
    cd, cr = default.compare, scaled.compare
    row(
        "compare",
        measured["compare"]["seconds"] * sum(cr.train_sizes) / sum(cd.train_sizes),
        "x the training pairs summed over its sizes",
    )
    total = sum(r["projected_s"] for r in rows)
    return {"machine": machine(), "run": str(root), "rows": rows, "projected_total_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("."), help="a default run's clone (mlruns/, results/)")
    parser.add_argument("--report", type=Path, default=Path("profiles/report.yaml"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = project(args.run, args.report)
    print(f"{'stage':<15} {'measured s':>10} {'report s':>10}  how")
    for r in result["rows"]:
        m = "-" if r["measured_s"] is None else f"{r['measured_s']:,}"
        print(f"{r['stage']:<15} {m:>10} {r['projected_s']:>10,.0f}  {r['how']}")
    print(f"{'all':<15} {'':>10} {result['projected_total_s']:>10,.0f}  ({result['projected_total_s'] / 3600:.1f} h)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
