"""Stage `prepare` (report section 2): MNIST in, train/val/test pairs, class counts and exploration figures out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistsum import figures, tracking
from mnistsum.data.mnist import load_mnist
from mnistsum.data.pairs import build_dataset, class_counts, content_hash, save_pairs
from mnistsum.figures import save_figure
from mnistsum.files import write_json
from mnistsum.params import Params


@dataclass(frozen=True)
class Paths:
    data: Path  # folder for train/val/test .npz
    summary: Path  # sizes, class counts and content hash (JSON)
    plots: Path


def exploration_figures(mnist, splits, plots_dir: Path) -> list[Path]:
    """The report's Figures 1-6: label distributions and first images, before and after pairing."""
    out = {
        "mnist_labels.png": figures.label_distribution(
            {"train": np.bincount(mnist.y_train, minlength=10), "test": np.bincount(mnist.y_test, minlength=10)},
            "MNIST label distribution",
            "digit",
        ),
        "mnist_first20.png": figures.image_grid(
            mnist.x_train[:20], [str(v) for v in mnist.y_train[:20]], "First 20 MNIST training digits"
        ),
        "pair_labels.png": figures.label_distribution(
            {name: class_counts(p.y) for name, p in splits.items()}, "Sum distribution of the pairs", "sum"
        ),
        "pairs_first20.png": figures.image_grid(
            splits["train"].x[:20],
            [
                f"{s} = {a}+{b}"
                for s, a, b in zip(
                    splits["train"].y[:20], splits["train"].top_label[:20], splits["train"].bottom_label[:20]
                )
            ],
            "First 20 training pairs (sum = top+bottom)",
        ),
    }
    paths = []
    for name, fig in out.items():
        save_figure(fig, plots_dir / name)
        paths.append(plots_dir / name)
    return paths


def run(params: Params, paths: Paths) -> dict:
    data_dir, summary_path, plots_dir = paths.data, paths.summary, paths.plots
    started = time.perf_counter()
    p = params.prepare
    mnist = load_mnist(params.base.mnist_path)
    splits = build_dataset(mnist, p.train_pairs, p.test_pairs, p.val_fraction, params.base.seed, p.split)
    for name, pairs in splits.items():
        save_pairs(data_dir / f"{name}.npz", pairs)
    digest = content_hash(splits)
    metrics = {
        "sizes": {name: len(s) for name, s in splits.items()},
        "class_counts": {name: dict(enumerate(class_counts(s.y))) for name, s in splits.items()},
        "content_sha256": digest,
    }
    write_json(summary_path, metrics)
    paths = exploration_figures(mnist, splits, plots_dir)
    with tracking.start_run(
        "data",
        "prepare",
        stage="prepare",
        params={"base": params.base.model_dump(), "prepare": p.model_dump()},
        tags={"dataset.sha256": digest},
        regime=None,  # makes the pairs, trains nothing
    ) as run:
        rid = run.info.run_id
        tracking.log_metrics(
            rid, {f"n_{name}": len(s) for name, s in splits.items()} | {"seconds": time.perf_counter() - started}
        )
        tracking.log_files(rid, paths)
        tracking.log_files(rid, [summary_path], folder="results")
    print(
        f"prepare: {', '.join(f'{k} {len(v):,}' for k, v in splits.items())} pairs, "
        f"sha256 {digest[:12]}, {time.perf_counter() - started:.1f}s"
    )
    return metrics
