"""Which library fits the scikit-learn stages' estimators: stock scikit-learn, or Intel's oneDAL through
scikit-learn-intelex (the same estimator API; x86-64 only). A stage's `engine` param chooses, per estimator
family, by measurement (benchmarks/throughput.py): oneDAL's SVC fits and predicts about 3x faster at equal
accuracy; its random forest was slower than stock, so the forest stays stock. The param is logged with every
grid run, and each point's tags name the class that fitted it."""

from __future__ import annotations

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
