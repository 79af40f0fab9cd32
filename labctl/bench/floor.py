"""The floor: the model's own predict time in-process, with no HTTP around it.

Measured for the runtime serving uses (app.inference: the ONNX export under ONNX
Runtime) and, for comparison, the scikit-learn Pipeline it was exported from, called
as serving called it before it ran ONNX only (input checks skipped).
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import sklearn

from app.inference import Runner, onnx_runner
from training.cli import train
from training.export_onnx import export_onnx
from training.settings import TrainingSettings


def sklearn_runner(pipeline) -> Runner:
    """The Pipeline itself, its (already validated) input not checked again."""

    def predict_proba(rows: np.ndarray) -> np.ndarray:
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return pipeline.predict_proba(rows)

    return Runner("scikit-learn", predict_proba)


def _median_seconds(function, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _runtime_floor(predict_proba, one, thousand, repeats) -> dict:
    predict_proba(thousand)  # warm-up
    row_s = _median_seconds(lambda: predict_proba(one), repeats[0])
    batch_s = _median_seconds(lambda: predict_proba(thousand), repeats[1])
    return {
        "predict_1_row_ms": round(row_s * 1000, 4),
        "predict_1000_rows_ms": round(batch_s * 1000, 4),
        "rows_per_s_1000_batch": round(1000 / batch_s),
        "single_row_calls_per_s": round(1 / row_s),
    }


def measure(quick: bool) -> dict:
    """Per runtime: predict_proba time for 1 row and for 1,000 rows (median of many runs)."""
    settings = TrainingSettings.from_env({})
    pipeline, dataset, _ = train(settings)
    one = np.array([[5.1, 3.5, 1.4, 0.2]])
    thousand = np.repeat(one, 1000, axis=0)
    repeats = (200, 20) if quick else (2000, 200)
    runners = (
        sklearn_runner(pipeline),
        onnx_runner(export_onnx(pipeline, len(dataset.feature_names))),
    )
    return {
        runner.name: _runtime_floor(runner.predict_proba, one, thousand, repeats)
        for runner in runners
    }
