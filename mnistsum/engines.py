"""Which library fits the scikit-learn stages' estimators: stock scikit-learn, or Intel's oneDAL through
scikit-learn-intelex (the same estimator API; x86-64 only). A stage's `engine` param chooses, per estimator
family, by measurement (benchmarks/throughput.py): oneDAL's SVC fits about 3x faster at equal accuracy; its
random forest was slower than stock, so the forest stays stock. The param is logged with every grid run, and each
point's tags name the class that fitted it. Whichever fitted it, an SVC is scored here (`predict`), by its votes."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from mnistsum.errors import InputError

STOCK = {"SVC": SVC, "LogisticRegression": LogisticRegression, "RandomForestClassifier": RandomForestClassifier}


def estimator(name: str, engine: str) -> type:
    """The estimator class `name` from the chosen engine."""
    if engine == "stock":
        return STOCK[name]
    try:
        # deferred: oneDAL is x86-64 only and slow to import; a machine running stock never needs it
        import sklearnex.ensemble
        import sklearnex.linear_model
        import sklearnex.svm
    except ImportError as exc:
        raise InputError(
            f"engine: onedal needs scikit-learn-intelex ({exc}); it ships for x86-64 only: set engine: stock"
        ) from None
    return {
        "SVC": sklearnex.svm.SVC,
        "LogisticRegression": sklearnex.linear_model.LogisticRegression,
        "RandomForestClassifier": sklearnex.ensemble.RandomForestClassifier,
    }[name]


def engine_of(model: object) -> str:
    """Which engine fitted a model: its class's top-level package."""
    return "onedal" if type(model).__module__.startswith("sklearnex") else "stock"


# Rows of pairs scored at once by `predict`: their kernel matrix against every support vector stays under 200 MB
# at the report's scale (12,000 support vectors).
PREDICT_ROWS = 2048


def _kernel(model, x: np.ndarray, sv: np.ndarray) -> np.ndarray:
    """libsvm's kernels, as scikit-learn names and parameterises them."""
    dot = x @ sv.T
    if model.kernel == "linear":
        return dot
    if model.kernel == "poly":
        return (model._gamma * dot + model.coef0) ** model.degree
    if model.kernel == "sigmoid":
        return np.tanh(model._gamma * dot + model.coef0)
    sq = np.einsum("ij,ij->i", x, x)[:, None] + np.einsum("ij,ij->i", sv, sv)[None] - 2 * dot
    return np.exp(-model._gamma * np.maximum(sq, 0.0))


def predict(model, x: np.ndarray) -> np.ndarray:
    """The labels `model.predict(x)` gives; a fitted SVC with three or more classes is scored by its one-vs-one
    votes from one kernel matrix.

    Both engines' SVC.predict evaluate each support vector's kernel once for every pair of classes it takes part
    in (18 times, with the 19 sums), so scoring cost three times the fit (2,000 pairs against 2,400 support vectors:
    2.7 s predicting, 0.8 s fitting, on one thread). Here each pair of rows and support vectors meets once, in a
    matrix product, and the vote is libsvm's: a positive decision counts for the pair's first class, and a tie
    goes to the lowest class. On the default run's pairs the svm stage took 16 s where it took 78, every
    accuracy of its 17 points the same to the last pair. Any other estimator (and an SVC with two classes, whose
    coefficients scikit-learn stores negated, or with ties broken by its decision function)
    is scored by its own predict."""
    if not isinstance(model, SVC) or model.kernel not in ("linear", "poly", "rbf", "sigmoid"):
        return model.predict(x)
    n_classes = len(model.classes_)
    if n_classes < 3 or (model.break_ties and model.decision_function_shape == "ovr"):
        return model.predict(x)
    # In the precision the model was fitted in: float64 for libsvm, the data's own float32 for oneDAL.
    dtype = model.support_vectors_.dtype
    sv = model.support_vectors_
    starts = np.concatenate([[0], np.cumsum(model.n_support_)])
    coef, intercept = model.dual_coef_, model.intercept_
    labels = []
    for lo in range(0, len(x), PREDICT_ROWS):
        rows = np.asarray(x[lo : lo + PREDICT_ROWS], dtype=dtype)
        k = _kernel(model, rows, sv)
        votes = np.zeros((len(rows), n_classes), dtype=np.int64)
        at, pair = np.arange(len(rows)), 0
        for i in range(n_classes):
            for j in range(i + 1, n_classes):
                si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
                decision = k[:, si] @ coef[j - 1, si] + k[:, sj] @ coef[i, sj] + intercept[pair]
                votes[at, np.where(decision > 0, i, j)] += 1
                pair += 1
        labels.append(model.classes_[votes.argmax(1)])
    return np.concatenate(labels) if labels else model.predict(x)
