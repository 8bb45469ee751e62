"""scikit-learn's TSNE (after PCA to 50 dimensions) against openTSNE on the same sample of embeddings:
wall time and the two scores the tsne stage logs (kNN accuracy of the sum in 2-D, trustworthiness).

Run after `dvc repro final`: .venv/bin/python benchmarks/tsne_impl.py --data data/pairs --model models/final/model.keras
"""

import argparse
import time
from pathlib import Path

import numpy as np

from mnistsum import models
from mnistsum.data.pairs import load_split
from mnistsum.stages.tsne import score_map, tsne_2d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/pairs"))
    parser.add_argument("--model", type=Path, default=Path("models/final/model.keras"))
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--perplexities", type=float, nargs="+", default=[5, 20, 50])
    args = parser.parse_args()
    test = load_split(args.data, "test")
    sample = test.take(np.sort(np.random.default_rng(42).choice(len(test), args.n, replace=False)))
    emb = next(iter(models.embeddings(models.load(args.model), sample).values())).points
    labels = sample.y.astype(int)
    for perplexity in args.perplexities:
        for impl in ("sklearn", "opentsne"):
            t0 = time.perf_counter()
            pts = tsne_2d(emb, perplexity, 42, 50, impl)
            seconds = time.perf_counter() - t0
            s = score_map(emb, pts, labels, 5, 42)
            print(
                f"perplexity {perplexity:g} {impl:8s}: {seconds:6.1f}s  knn {s['knn_accuracy']:.3f}  "
                f"trust {s['trustworthiness']:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
