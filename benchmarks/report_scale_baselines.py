"""The report's headline baseline numbers at the report's scale (all 48,000 training pairs; SVC on 25%),
fitted with the same code the stages use, each printed beside the report's test accuracy.

Run (about 15 min on 2 cores, SVC included): .venv/bin/python benchmarks/report_scale_baselines.py --data data/pairs
"""

import argparse
from pathlib import Path

from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from mnistsum.stages.grid import Point, fit_point, load_data

POINTS = [  # (name, estimator, params, train fraction, report test accuracy)
    ("logreg default", LogisticRegression, {}, 1.0, 0.2204),
    ("logreg sag C=0.1", LogisticRegression, {"solver": "sag", "C": 0.1}, 1.0, 0.2247),
    ("forest default", RandomForestClassifier, {"n_jobs": 2}, 1.0, 0.7312),
    ("forest max_depth=8", RandomForestClassifier, {"max_depth": 8, "n_jobs": 2}, 1.0, 0.5572),
    ("svc rbf C=10 scale, 25%", SVC, {"kernel": "rbf", "C": 10, "gamma": "scale"}, 0.25, 0.6693),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/pairs"))
    parser.add_argument("--skip", nargs="*", default=[], help="names (prefixes) to skip, e.g. svc")
    args = parser.parse_args()
    for name, est, params, fraction, reported in POINTS:
        if any(name.startswith(s) for s in args.skip):
            continue
        data = load_data(args.data, fraction, 42)
        row = fit_point(lambda est=est, **kw: est(random_state=42, **kw), Point("bench", name, params), data, 10_000)
        print(
            f"{name:26s} train {row['train_accuracy']:.4f} test {row['test_accuracy']:.4f} "
            f"(report {reported:.4f}, diff {row['test_accuracy'] - reported:+.4f}) fit {row['fit_seconds']:.0f}s"
            + ("" if row.get("converged", True) else " [not converged]"),
            flush=True,
        )


if __name__ == "__main__":
    main()
