"""The one home of every measure: accuracy, confusion counts, log-loss, Brier score, calibration and ECE."""

import numpy as np
import pytest

from mnistsum.metrics import accuracy, brier, calibration_bins, confusion, ece, log_loss, scores


def test_ece_is_zero_when_calibrated_and_positive_when_overconfident():
    y = np.array([0, 1] * 50)
    assert ece(np.eye(19)[y], y) == 0
    wrong = np.eye(19)[1 - y]
    assert ece(wrong, y) == 1


def test_ece_weighs_each_bin_by_its_share():
    # Half the rows at confidence 0.9 and all right (gap 0.1), half at 0.6 and all wrong (gap 0.6): ECE 0.35.
    proba = np.array([[0.9, 0.1]] * 50 + [[0.6, 0.4]] * 50)
    y = np.array([0] * 50 + [1] * 50)
    assert ece(proba, y, bins=10) == pytest.approx(0.35)
    conf, acc, count = calibration_bins(proba, y, 10)
    assert count[9] == 50 and count[6] == 50 and acc[9] == 1 and acc[6] == 0


def test_accuracy_confusion_log_loss_and_brier_on_a_known_case():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6]])
    y = np.array([0, 1, 1, 2])
    assert accuracy(proba, y) == 0.75
    assert confusion(y, proba.argmax(1), 3).tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert log_loss(proba, y) == pytest.approx(-np.mean(np.log([0.7, 0.8, 0.4, 0.6])))
    assert brier(proba, y) == pytest.approx(
        np.mean([0.09 + 0.04 + 0.01, 0.01 + 0.04 + 0.01, 0.25 + 0.36 + 0.01, 0.04 + 0.04 + 0.16])
    )
    assert set(scores(proba, y, 5)) == {"accuracy", "log_loss", "brier", "ece"}
