import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from mnistsum import engines
from mnistsum.engines import estimator, predict


def _data(n_classes, seed=0):
    x, y = make_classification(
        n_samples=900, n_features=40, n_informative=12, n_classes=n_classes, n_clusters_per_class=1, random_state=seed
    )
    return x[:600].astype(np.float32), y[:600], x[600:].astype(np.float32)


@pytest.mark.parametrize("engine", ["stock", "onedal"])
@pytest.mark.parametrize(
    "params",
    [
        {"kernel": "rbf", "gamma": "scale", "C": 1.0},
        {"kernel": "rbf", "gamma": "auto", "C": 10.0},
        {"kernel": "poly", "gamma": "scale", "C": 10.0},
        {"kernel": "poly", "gamma": "auto", "C": 100.0, "degree": 2, "coef0": 0.5},
        {"kernel": "linear", "C": 0.1},
        {"kernel": "sigmoid", "gamma": "scale", "C": 1.0, "coef0": 0.1},
    ],
)
def test_the_svc_vote_from_one_kernel_matrix_names_what_predict_names(engine, params, monkeypatch):
    """Seven classes, each engine, each kernel: the same label for every row, in chunks of rows as at once."""
    x, y, rows = _data(7)
    model = estimator("SVC", engine)(random_state=0, **params).fit(x, y)
    expected = model.predict(rows)
    assert len(set(expected)) > 2  # the vote is over many classes, not a degenerate one
    np.testing.assert_array_equal(predict(model, rows), expected)
    monkeypatch.setattr(engines, "PREDICT_ROWS", 64)
    np.testing.assert_array_equal(predict(model, rows), expected)


def test_what_the_vote_does_not_cover_is_the_estimators_own_predict():
    """Two classes (coefficients stored negated), ties broken by the decision function, other estimators."""
    x, y, rows = _data(2)
    svc = estimator("SVC", "stock")
    binary = svc(kernel="rbf").fit(x, y)
    np.testing.assert_array_equal(predict(binary, rows), binary.predict(rows))
    x, y, rows = _data(5)
    ties = svc(kernel="rbf", break_ties=True).fit(x, y)
    np.testing.assert_array_equal(predict(ties, rows), ties.predict(rows))
    logistic = LogisticRegression(max_iter=200).fit(x, y)
    np.testing.assert_array_equal(predict(logistic, rows), logistic.predict(rows))
