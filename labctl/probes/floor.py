"""Run inside an image: the model's own predict time, with no HTTP around it (the floor).

    python floor.py scikit-learn REPEATS_ROW REPEATS_BATCH   (training image)
        trains the Pipeline as training does, times its predict_proba (input checks
        skipped, as serving did before it ran ONNX only); prints JSON with the timings
        and the Pipeline's ONNX graph (base64), for the next run
    python floor.py onnxruntime REPEATS_ROW REPEATS_BATCH    (serving image)
        reads that JSON on stdin and times the graph with serving's own runner
        (app.inference.onnx_runner)

Measured inside the images, the bench never imports the product's code.
"""

import base64
import json
import statistics
import sys
import time

import numpy as np


def median_seconds(function, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def floor(predict_proba, repeats_row: int, repeats_batch: int) -> dict:
    one = np.array([[5.1, 3.5, 1.4, 0.2]])
    thousand = np.repeat(one, 1000, axis=0)
    predict_proba(thousand)  # warm-up
    row_s = median_seconds(lambda: predict_proba(one), repeats_row)
    batch_s = median_seconds(lambda: predict_proba(thousand), repeats_batch)
    return {
        "predict_1_row_ms": round(row_s * 1000, 4),
        "predict_1000_rows_ms": round(batch_s * 1000, 4),
        "rows_per_s_1000_batch": round(1000 / batch_s),
        "single_row_calls_per_s": round(1 / row_s),
    }


def sklearn_predict_proba(pipeline):
    """The Pipeline itself, its (already validated) input not checked again."""
    import sklearn

    def predict_proba(rows):
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return pipeline.predict_proba(rows)

    return predict_proba


def scikit_learn(repeats_row: int, repeats_batch: int) -> dict:
    from training.export_onnx import export_onnx
    from training.settings import TrainingSettings
    from training.train import train

    pipeline, dataset, _ = train(TrainingSettings.from_env({}))
    graph = export_onnx(pipeline, len(dataset.feature_names))
    return {
        "floor": floor(sklearn_predict_proba(pipeline), repeats_row, repeats_batch),
        "graph": base64.b64encode(graph).decode("ascii"),
    }


def onnxruntime(repeats_row: int, repeats_batch: int) -> dict:
    import os

    # Importing app opens its metrics files in PROMETHEUS_MULTIPROC_DIR, a folder that
    # gunicorn's configuration makes before the server starts: make it here instead.
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    from app.inference import onnx_runner

    graph = base64.b64decode(json.load(sys.stdin)["graph"])
    return {"floor": floor(onnx_runner(graph).predict_proba, repeats_row, repeats_batch)}


# The runtimes the floor compares, each measured in the image that has it.
RUNTIMES = {"scikit-learn": scikit_learn, "onnxruntime": onnxruntime}

if __name__ == "__main__":
    runtime, repeats_row, repeats_batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(RUNTIMES[runtime](repeats_row, repeats_batch)))
