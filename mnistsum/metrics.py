"""Every measure of a set of predictions, in one place: accuracy, confusion counts, log-loss, Brier score,
calibration bins and the expected calibration error. Probabilities in, numbers out; no model, no framework."""

from __future__ import annotations

import numpy as np

EPS = 1e-15


def accuracy(proba: np.ndarray, y: np.ndarray) -> float:
    """Share of rows whose most probable class is the label."""
    return float((np.asarray(proba).argmax(axis=1) == y).mean())


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[labels]


def confusion(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[true, predicted]."""
    counts = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(counts, (np.asarray(y, np.int64), np.asarray(pred, np.int64)), 1)
    return counts


def log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.clip(proba[np.arange(len(y)), y], EPS, 1)).mean())


def brier(proba: np.ndarray, y: np.ndarray) -> float:
    return float(((proba - one_hot(y, proba.shape[1])) ** 2).sum(axis=1).mean())


def calibration_bins(proba: np.ndarray, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width confidence bin: mean top-class confidence, accuracy and count."""
    conf, pred = proba.max(axis=1), proba.argmax(axis=1)
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    count = np.bincount(idx, minlength=bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=bins) / count
        acc = np.bincount(idx, weights=(pred == y).astype(float), minlength=bins) / count
    return mean_conf, acc, count


def ece(proba: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence, equal-width bins."""
    conf, acc, count = calibration_bins(proba, y, bins)
    keep = count > 0
    return float((count[keep] / count.sum() * np.abs(acc[keep] - conf[keep])).sum())


def scores(proba: np.ndarray, y: np.ndarray, bins: int) -> dict[str, float]:
    """The four numbers the comparison reports for one set of sum probabilities."""
    return {
        "accuracy": accuracy(proba, y),
        "log_loss": log_loss(proba, y),
        "brier": brier(proba, y),
        "ece": ece(proba, y, bins),
    }
