"""The BentoML peer of `inv bench`: the registry version's model.joblib behind BentoML's
own HTTP API, answering what our /predict answers (each row's class and probabilities).

BENTO_MODEL names the model.joblib (the bench sets it); BENTO_WORKERS the worker
processes (BentoML's docs: one per CPU; serving has 1.5 CPUs and 2 gunicorn workers).
"""

from __future__ import annotations

import os

import bentoml
import joblib
import numpy as np


@bentoml.service(workers=int(os.environ.get("BENTO_WORKERS", "2")))
class Iris:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["BENTO_MODEL"])

    @bentoml.api
    def predict(self, instances: np.ndarray) -> dict:
        """Class index and probabilities of each row."""
        probabilities = self.model.predict_proba(instances)
        return {
            "class_index": probabilities.argmax(axis=1).tolist(),
            "probabilities": probabilities.tolist(),
        }
