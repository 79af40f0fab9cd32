"""The training step: fit the Pipeline, evaluate it, and describe the run.

The command line (training/cli.py) calls it, and so do the tests and the bench's floor
probe (inside the training image): one place that says what "training" is.
"""

from __future__ import annotations

import platform

import joblib
import numpy as np
import sklearn
from sklearn.pipeline import Pipeline

from training import data
from training.evaluate import evaluate
from training.model import build_pipeline
from training.settings import TrainingSettings


def train(settings: TrainingSettings) -> tuple[Pipeline, data.Dataset, dict]:
    """Fit the pipeline on the training split and evaluate it on the held-out split."""
    dataset = data.load(settings.seed, settings.test_size)
    pipeline = build_pipeline(settings.model_type, settings.seed)
    pipeline.fit(dataset.x_train, dataset.y_train)
    report = evaluate(dataset.y_test, pipeline.predict(dataset.x_test), dataset.class_names)
    return pipeline, dataset, report


def metadata_fields(settings: TrainingSettings, dataset: data.Dataset, report: dict) -> dict:
    """The metadata.json fields that training knows (publish adds the rest)."""
    return {
        "model_type": settings.model_type,
        "framework": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "joblib": joblib.__version__,
            "numpy": np.__version__,
        },
        "signature": {"inputs": dataset.feature_names, "outputs": dataset.class_names},
        "metrics": report,
        "training_data": {
            "source": data.SOURCE,
            "fingerprint": dataset.fingerprint,
            "n_samples": dataset.n_samples,
            "test_size": settings.test_size,
            "seed": settings.seed,
        },
    }
