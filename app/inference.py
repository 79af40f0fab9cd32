"""How the served model computes probabilities: ONNX Runtime when proven equal, else scikit-learn.

scikit-learn pays ~0.25 ms of input checks and dispatch per predict_proba call; for
the single-row requests of an API that is most of a request's cost. Training also
publishes the pipeline as an ONNX graph (model.onnx), which ONNX Runtime runs in
~0.01 ms. Before a graph may serve, it must give the same probabilities as the
pickled pipeline on a fixed set of probe rows; otherwise scikit-learn answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sklearn

# MODEL_RUNTIME values: "auto" prefers ONNX Runtime, "sklearn" never uses it.
RUNTIME_CHOICES = ("auto", "sklearn")
# Largest difference in any probability the graph may show against scikit-learn.
EQUAL_WITHIN = 1e-9
# Probe rows the two must agree on: the origin and a spread around it.
PROBE_ROWS = 64
PROBE_SPREAD = 10.0


@dataclass(frozen=True)
class Runner:
    """One way of computing class probabilities for a float64 (rows, features) matrix."""

    name: str
    predict_proba: Callable[[np.ndarray], np.ndarray]


def sklearn_runner(model) -> Runner:
    """The pickled pipeline itself."""

    def predict_proba(rows: np.ndarray) -> np.ndarray:
        # app.validation has already proven every value a finite float in a matrix of
        # the right shape: scikit-learn need not check it (or its own parameters) again.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return model.predict_proba(rows)

    return Runner("scikit-learn", predict_proba)


def onnx_runner(graph: bytes) -> Runner:
    """An ONNX Runtime session over the exported graph."""
    import onnxruntime

    # No usage telemetry from a server (the image also sets ORT_DISABLE_TELEMETRY=1).
    onnxruntime.disable_telemetry_events()
    options = onnxruntime.SessionOptions()
    # gunicorn's workers and threads are the parallelism: one thread per call, and no
    # idle threads spinning on the container's CPU quota.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only; they surface as exceptions anyway
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def predict_proba(rows: np.ndarray) -> np.ndarray:
        return session.run(["probabilities"], {input_name: rows})[0]

    return Runner("onnxruntime", predict_proba)


def probe_rows(n_features: int) -> np.ndarray:
    """Fixed rows both runtimes must agree on (the same every time)."""
    spread = np.random.default_rng(0).uniform(
        -PROBE_SPREAD, PROBE_SPREAD, (PROBE_ROWS - 1, n_features)
    )
    return np.vstack([np.zeros((1, n_features)), spread])


def choose_runner(model, graph: bytes | None, n_features: int, runtime: str) -> tuple[Runner, str]:
    """The runner to serve with, and why ONNX Runtime is not it ("" when it is)."""
    reference = sklearn_runner(model)
    if runtime == "sklearn":
        return reference, "MODEL_RUNTIME=sklearn"
    if graph is None:
        return reference, "the version has no model.onnx"
    try:
        fast = onnx_runner(graph)
        rows = probe_rows(n_features)
        expected, got = reference.predict_proba(rows), fast.predict_proba(rows)
    except Exception as exc:  # a graph ONNX Runtime cannot load or run
        return reference, f"ONNX Runtime cannot run model.onnx: {exc}"
    if got.shape != expected.shape:
        return reference, f"model.onnx answers {got.shape}, scikit-learn {expected.shape}"
    difference = float(np.max(np.abs(got - expected)))
    if not difference <= EQUAL_WITHIN:
        return reference, f"model.onnx differs from scikit-learn by up to {difference:.3g}"
    return fast, ""
