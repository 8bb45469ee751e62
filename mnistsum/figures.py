"""Every figure the project draws: the report's figures plus the new ones, in one consistent style."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mnistsum.files import atomic_path  # noqa: E402

plt.rcParams.update(
    {"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False}
)

SPLIT_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}


def label_distribution(counts: Mapping[str, Sequence[int]], title: str, xlabel: str = "label"):
    """Bars of class counts, one panel per split (the report's Figures 1-5)."""
    fig, axes = plt.subplots(1, len(counts), figsize=(4.2 * len(counts), 3.2), squeeze=False)
    for ax, (split, c) in zip(axes[0], counts.items()):
        c = np.asarray(c)
        ax.bar(np.arange(len(c)), c, color=SPLIT_COLOURS.get(split, "#555555"))
        ax.set_title(f"{split} (n={c.sum():,})")
        ax.set_xlabel(xlabel)
        ax.set_xticks(np.arange(len(c)))
        ax.tick_params(axis="x", labelsize=7)
    axes[0][0].set_ylabel("count")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_grid(images: np.ndarray, titles: Sequence[str], title: str, cols: int = 10):
    rows = int(np.ceil(len(images) / cols))
    h, w = images.shape[1:3]
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.25 * h / w), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, t in zip(axes.flat, images, titles):
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(t, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], title: str):
    """Training, validation and test accuracy per epoch (the report's Figures 7 and 9)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    styles = ["-", "--", ":", "-."]
    for style, (name, h) in zip(styles, histories.items()):
        for key, split in (("accuracy", "train"), ("val_accuracy", "val"), ("test_accuracy", "test")):
            if key in h:
                epochs = np.arange(1, len(h[key]) + 1)
                ax.plot(epochs, h[key], style, color=SPLIT_COLOURS[split], label=f"{name} {split}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=len(histories))
    fig.tight_layout()
    return fig


def _scatter_by_label(ax, points: np.ndarray, labels: np.ndarray, legend: bool = True, label_name: str = "sum") -> None:
    # Ten digits get ten distinct qualitative colours; nineteen sums a spectrum (neighbouring sums look alike,
    # which suits them).
    colour = (
        (lambda v: plt.get_cmap("tab10")(v))
        if label_name == "digit"
        else (lambda v: plt.get_cmap("nipy_spectral")(v / 19))
    )
    for s in np.unique(labels):
        sel = labels == s
        ax.scatter(points[sel, 0], points[sel, 1], s=4, color=colour(s), label=str(s), alpha=0.8, linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    if legend:
        ax.legend(title=label_name, fontsize=7, markerscale=3, loc="center left", bbox_to_anchor=(1, 0.5), ncol=1)


def tsne_map(points: np.ndarray, labels: np.ndarray, title: str, label_name: str = "sum"):
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    _scatter_by_label(ax, points, labels, label_name=label_name)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def tsne_grid(maps: Mapping[str, np.ndarray], labels: np.ndarray, title: str):
    """Small multiples of the perplexity sweep (the report's Figure 12)."""
    n = len(maps)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, (name, pts)) in enumerate(zip(axes.flat, maps.items())):
        ax.axis("on")
        _scatter_by_label(ax, pts, labels, legend=i == n - 1)
        ax.set_title(name, fontsize=10)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def pair_map(points: np.ndarray, labels: np.ndarray, top: np.ndarray, bottom: np.ndarray, target: int, title: str):
    """Points of one sum coloured by which digit pair makes it; every other point in grey."""
    fig, ax = plt.subplots(figsize=(7, 5.5))
    ax.scatter(points[:, 0], points[:, 1], s=3, color="#dddddd", linewidths=0)
    sel = labels == target
    pairs = sorted({(int(a), int(b)) for a, b in zip(top[sel], bottom[sel])})
    cmap = plt.get_cmap("tab10")
    for k, (a, b) in enumerate(pairs):
        m = sel & (top == a) & (bottom == b)
        ax.scatter(
            points[m, 0],
            points[m, 1],
            s=10,
            color=cmap(k % 10),
            label=f"{a}+{b} (n={m.sum()})",
            marker="o" if k < 10 else "^",
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(title=f"pairs summing to {target}", fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    ax.set_title(title)
    fig.tight_layout()
    return fig


def depth_curves(
    depths: Sequence[int],
    curves: Mapping[str, Sequence[float]],
    title: str,
    marked: Sequence[int] = (),
    chosen: int | None = None,
):
    """Accuracy against tree depth (the report's Figures 16 and 17)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for split, values in curves.items():
        ax.plot(depths, values, "o-", ms=3, color=SPLIT_COLOURS.get(split), label=split)
    for d in marked:
        ax.axvline(d, color="#d62728", alpha=0.08, lw=6)
    if chosen is not None:
        ax.axvline(chosen, color="#d62728", ls="--", label=f"chosen depth {chosen}")
    ax.set_xlabel("max_depth")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def lines_log_x(
    xs: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    xlabel: str,
    ylabel: str,
    title: str,
    dashed: Collection[str] | None = None,
):
    """Accuracy against a log-scaled knob: C for the linear grids, training-set size (the report's Figure 20).
    Curves named in `dashed` (by default, those with "val" in their name) are drawn dashed."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, values in curves.items():
        dash = name in dashed if dashed is not None else "val" in name
        ax.plot(xs, values, "s--" if dash else "o-", ms=4, label=name)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def reliability_diagram(curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], title: str):
    """Confidence against accuracy per bin; each curve is (bin confidence, bin accuracy, bin count)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="#888888", ls=":", label="perfect calibration")
    for name, (conf, acc, count) in curves.items():
        keep = count > 0
        ax.plot(conf[keep], acc[keep], "o-", label=name)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion_matrix(counts: np.ndarray, title: str, label: str = "sum"):
    """Row-normalised confusion matrix (true rows, predicted columns), counts off the diagonal annotated."""
    counts = np.asarray(counts)
    n = len(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = counts / counts.sum(axis=1, keepdims=True)
    fig, ax = plt.subplots(figsize=(1.2 + 0.34 * n, 0.9 + 0.32 * n))
    im = ax.imshow(np.nan_to_num(rates), cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    for i, j in zip(*np.nonzero(counts)):
        if i != j:
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=6, color="#b2182b")
    ax.set_xticks(np.arange(n))
    ax.set_yticks(np.arange(n))
    ax.tick_params(labelsize=7)
    ax.set_xlabel(f"predicted {label}")
    ax.set_ylabel(f"true {label}")
    ax.set_title(f"{title}\n(colour: share of the row; red: counts of errors)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def save_figure(fig: Any, path: str | Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
