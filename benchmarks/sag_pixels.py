"""sag on dense pixels or on a CSR matrix of them: a lever measured, not kept.

scikit-learn's sag steps through the training rows one at a time; on a CSR matrix each step touches only a row's
nonzero pixels (a fifth of an MNIST pair's), so a fit is several times faster. But on sparse input scikit-learn
damps the intercept's steps a hundredfold (SPARSE_INTERCEPT_DECAY), so the fit takes another path: this script fits
the logreg stage's sag point both ways on the same pixels (as `mnistsum.stages.grid.load_data` gives them) and
prints seconds, iterations, whether it met its tolerance, validation accuracy and the intercepts' spread. With
`--prior-intercept` a third fit starts the sparse one's intercept at the classes' log-priors.

  .venv/bin/python benchmarks/sag_pixels.py --data data/pairs --fraction 0.1 --out /tmp/sag-4800.json
  .venv/bin/python benchmarks/sag_pixels.py --data data/pairs --fraction 1.0 --out /tmp/sag-48000.json
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from mnistsum.files import write_json
from mnistsum.machine import machine
from mnistsum.stages.grid import load_data


def fit(x, y, val, C: float, max_iter: int, seed: int, prior: bool) -> dict:
    model = LogisticRegression(solver="sag", C=C, max_iter=max_iter, random_state=seed, warm_start=prior)
    if prior:  # warm_start takes coef_ and intercept_ as the first iterate
        classes, counts = np.unique(y, return_counts=True)
        model.coef_ = np.zeros((len(classes), x.shape[1]))
        log_prior = np.log(counts / counts.sum())
        model.intercept_ = log_prior - log_prior.mean()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t0 = time.perf_counter()
        model.fit(x, y)
        seconds = time.perf_counter() - t0
    return {
        "fit_s": seconds,
        "n_iter": int(np.max(model.n_iter_)),
        "met_tol": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
        "val_accuracy": float((model.predict(val.x) == val.y).mean()),
        "intercept_spread": float(np.ptp(model.intercept_)),
    }


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="a pairs folder (the prepare stage's data/pairs)")
    ap.add_argument("--fraction", type=float, default=0.1, help="of the training pairs (logreg.train_fraction)")
    ap.add_argument("--C", type=float, default=0.1)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--prior-intercept", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    data = load_data(args.data, args.fraction, args.seed)
    x, y = data.train.x, data.train.y
    ways = [("dense", x, False), ("sparse", sparse.csr_matrix(x), False)]
    if args.prior_intercept:
        ways.append(("sparse, log-prior intercept", sparse.csr_matrix(x), True))
    rows = [
        {"pixels": name, **fit(pixels, y, data.val, args.C, args.max_iter, args.seed, prior)}
        for name, pixels, prior in ways
    ]
    print(f"{machine()}: sag C={args.C:g} max_iter={args.max_iter} on {len(y):,} pairs ({(x != 0).mean():.0%} nonzero)")
    for r in rows:
        print(
            f"{r['pixels']:<28} fit {r['fit_s']:6.1f} s  {r['n_iter']:>5} iterations  "
            f"{'met tol' if r['met_tol'] else 'max_iter':<8}  val {r['val_accuracy']:.4f}  "
            f"intercepts span {r['intercept_spread']:.2f}"
        )
    if args.out:
        command = "benchmarks/sag_pixels.py " + " ".join(arg for arg in argv)
        setting = {"C": args.C, "max_iter": args.max_iter, "seed": args.seed, "train_pairs": len(y)}
        write_json(args.out, {"machine": machine(), "command": command, **setting, "rows": rows})


if __name__ == "__main__":
    main(sys.argv[1:])
