"""Run the served model on validated rows and shape the answer."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np

from app import metrics
from app.errors import APIError
from app.model_store import ServedModel

log = logging.getLogger("app.prediction")


def _finite(probabilities: np.ndarray, served: ServedModel) -> np.ndarray:
    """The probabilities, if every one is a finite number; else a 422 naming the first row.

    Validated input should never get here, but an answer must never carry NaN or
    infinity (JSON has neither: it would go out as null, or "nan%" on the page).
    """
    finite = np.isfinite(probabilities).all(axis=1)
    if finite.all():
        return probabilities
    first = int(np.argmin(finite))
    log.error(
        "non-finite probabilities",
        extra={"event": "non_finite_probabilities", "version": served.version, "row": first},
    )
    raise APIError(
        422,
        "unanswerable_instance",
        f"instance {first}: the model gives no finite probabilities for it; nothing was predicted",
    )


@dataclass(frozen=True)
class Classified:
    """What the model said about the rows: the class probabilities, every one finite, and
    the class each row is given (the most probable one)."""

    probabilities: np.ndarray  # (rows, classes), classes in ServedModel.class_names order
    indices: np.ndarray  # (rows,) the index of each row's class


def classify(served: ServedModel, rows: np.ndarray) -> Classified:
    """Run the model on validated rows, refuse a non-finite answer, count the predictions.

    The one path from rows to classes: /predict, the page and the V2 protocol all
    answer, and are counted, through it.
    """
    probabilities = _finite(served.predict_proba(rows), served)
    indices = probabilities.argmax(axis=1)
    classes = served.class_names
    for index, count in Counter(indices.tolist()).items():
        metrics.PREDICTIONS.labels(class_name=classes[index]).inc(count)
    return Classified(probabilities, indices)


def predict(served: ServedModel, rows: np.ndarray) -> dict:
    """Class index, class name and class probabilities per row, plus the model that answered."""
    result = classify(served, rows)
    classes = served.class_names
    predictions = [
        {
            "class_index": index,
            "class_name": classes[index],
            "probabilities": dict(zip(classes, row, strict=True)),
        }
        for index, row in zip(result.indices.tolist(), result.probabilities.tolist(), strict=True)
    ]
    return {
        "model": {"name": served.name, "version": served.version},
        "predictions": predictions,
    }
