"""How the served model computes probabilities: ONNX Runtime running the signed graph.

Serving never unpickles anything: training exports the Pipeline as an ONNX graph
(model.onnx), proves it gives the same probabilities as the Pipeline (within 1e-9) on
fixed probe rows, and signs both with the proof. ONNX Runtime reads only data, and
runs the graph in ~0.01 ms where scikit-learn's predict_proba spends ~0.25 ms on input
checks and dispatch; scikit-learn is not even in the serving image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from model_registry.tensors import graph_tensors

RUNTIME = "onnxruntime"


@dataclass(frozen=True)
class Runner:
    """One way of computing class probabilities for a float64 (rows, features) matrix."""

    name: str
    predict_proba: Callable[[np.ndarray], np.ndarray]
    # The graph's tensors (name, datatype, shape), as metadata's signature.tensors gives
    # them; None for a runner with no graph to describe (tests' stand-ins).
    tensors: dict | None = field(default=None, compare=False)


def onnx_runner(graph: bytes) -> Runner:
    """An ONNX Runtime session over the exported graph."""
    import onnxruntime

    # No usage telemetry from a server (the image also sets ORT_DISABLE_TELEMETRY=1).
    onnxruntime.disable_telemetry_events()
    options = onnxruntime.SessionOptions()
    # gunicorn's worker processes are the parallelism: one thread per call, and no
    # idle threads spinning on the container's CPU quota.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only; they surface as exceptions anyway
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def predict_proba(rows: np.ndarray) -> np.ndarray:
        return session.run(["probabilities"], {input_name: rows})[0]

    return Runner(RUNTIME, predict_proba, graph_tensors(session))
