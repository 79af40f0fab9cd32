"""The training data: scikit-learn's bundled iris set, split the same way every time."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

SOURCE = "sklearn.datasets.load_iris"


@dataclass(frozen=True)
class Dataset:
    """A stratified train/test split plus what is needed to describe it."""

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    fingerprint: str
    n_samples: int


def feature_key(sklearn_name: str) -> str:
    """Turn 'sepal length (cm)' into 'sepal_length', the name the API uses."""
    return sklearn_name.replace("(cm)", "").strip().replace(" ", "_")


def fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """sha256 of the arrays' shapes, dtypes and bytes: changes whenever the data does."""
    digest = hashlib.sha256()
    for array in (np.ascontiguousarray(x), np.ascontiguousarray(y)):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def load(seed: int, test_size: float) -> Dataset:
    """Load iris from the scikit-learn package (no download) and split it, stratified."""
    iris = load_iris()
    x, y = iris.data, iris.target
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    return Dataset(
        x_train=x_train,
        x_test=x_test,
        y_train=y_train,
        y_test=y_test,
        feature_names=[feature_key(name) for name in iris.feature_names],
        class_names=[str(name) for name in iris.target_names],
        fingerprint=fingerprint(x, y),
        n_samples=len(y),
    )
