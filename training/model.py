"""The model: one scikit-learn Pipeline, so the scaler always travels with the estimator."""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def build_pipeline(model_type: str, seed: int) -> Pipeline:
    """StandardScaler followed by the chosen classifier."""
    if model_type == "logreg":
        estimator = LogisticRegression(max_iter=1000, random_state=seed)
    elif model_type == "knn":
        estimator = KNeighborsClassifier(n_neighbors=5)
    else:
        raise ValueError(f"unknown model type {model_type!r}")
    return Pipeline([("scale", StandardScaler()), ("classify", estimator)])
