"""The model: one scikit-learn Pipeline, so the scaler always travels with the estimator.

ESTIMATORS is the one list of model types: settings, the command line's choices and
the tests all read it from here.
"""

from __future__ import annotations

from collections.abc import Callable

from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

# The estimator after the scaler, by its MODEL_TYPE name; each is built from the seed.
ESTIMATORS: dict[str, Callable[[int], ClassifierMixin]] = {
    "logreg": lambda seed: LogisticRegression(max_iter=1000, random_state=seed),
    "knn": lambda seed: KNeighborsClassifier(n_neighbors=5),
}
MODEL_TYPES = tuple(ESTIMATORS)


def build_pipeline(model_type: str, seed: int) -> Pipeline:
    """StandardScaler followed by the chosen classifier."""
    if model_type not in ESTIMATORS:
        raise ValueError(f"unknown model type {model_type!r}")
    return Pipeline([("scale", StandardScaler()), ("classify", ESTIMATORS[model_type](seed))])
