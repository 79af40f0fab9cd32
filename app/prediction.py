"""Run the served model on validated rows and shape the answer."""

from __future__ import annotations

from collections import Counter

import numpy as np

from app import metrics
from app.model_store import ServedModel


def predict(served: ServedModel, rows: np.ndarray) -> dict:
    """Class index, class name and class probabilities per row, plus the model that answered."""
    probabilities = served.predict_proba(rows)
    indices = probabilities.argmax(axis=1).tolist()
    classes = served.class_names
    predictions = [
        {
            "class_index": index,
            "class_name": classes[index],
            "probabilities": dict(zip(classes, row, strict=True)),
        }
        for index, row in zip(indices, probabilities.tolist(), strict=True)
    ]
    for index, count in Counter(indices).items():
        metrics.PREDICTIONS.labels(class_name=classes[index]).inc(count)
    return {
        "model": {"name": served.name, "version": served.version},
        "predictions": predictions,
    }
