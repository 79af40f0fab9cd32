"""Export the trained Pipeline as an ONNX graph, and prove it answers as the Pipeline does.

Serving runs the ONNX graph only (it never unpickles): scikit-learn spends ~0.25 ms of
checks and dispatch on every predict_proba call, whatever the batch size, and a pickle
can run code; ONNX Runtime runs the same graph in ~0.01 ms and reads only data. The
graph takes float64 rows, as serving validates them, so its probabilities equal
scikit-learn's to the last bits: training proves it on fixed probe rows before it
publishes, and the proof goes into the signed metadata.
"""

from __future__ import annotations

import numpy as np

from model_registry.tensors import graph_tensors

# ONNX operator set of the exported graph: one every ONNX Runtime since 1.12 runs.
ONNX_OPSET = 17
# Largest difference in any probability the graph may show against scikit-learn.
EQUAL_WITHIN = 1e-9
# Probe rows the two must agree on: the origin and a spread around it (in cm, beyond
# the range serving accepts, so every region of the model is visited).
PROBE_ROWS = 64
PROBE_SPREAD = 100.0


class NotEqual(ValueError):
    """The graph does not answer as the pipeline does."""


def export_onnx(pipeline, n_features: int) -> bytes:
    """The fitted pipeline as a serialised ONNX model (input 'X': float64 rows).

    Outputs 'label' (class index) and 'probabilities' (rows x classes, float64).
    Raises whatever skl2onnx raises for a pipeline it cannot convert.
    """
    from skl2onnx import to_onnx

    sample = np.zeros((1, n_features), dtype=np.float64)
    # zipmap off: probabilities as a plain matrix, not a list of {class: p} maps.
    graph = to_onnx(pipeline, sample, options={"zipmap": False}, target_opset=ONNX_OPSET)
    return graph.SerializeToString()


def probe_rows(n_features: int) -> np.ndarray:
    """Fixed rows the graph and the pipeline must agree on (the same every time)."""
    spread = np.random.default_rng(0).uniform(0, PROBE_SPREAD, (PROBE_ROWS - 1, n_features))
    return np.vstack([np.zeros((1, n_features)), spread])


def prove_equal(pipeline, graph: bytes, n_features: int) -> dict:
    """The proof that graph answers as pipeline does, for the metadata; NotEqual if not."""
    import onnxruntime

    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    rows = probe_rows(n_features)
    expected = pipeline.predict_proba(rows)
    got = session.run(["probabilities"], {session.get_inputs()[0].name: rows})[0]
    if got.shape != expected.shape:
        raise NotEqual(f"the graph answers {got.shape}, scikit-learn {expected.shape}")
    difference = float(np.max(np.abs(got - expected)))
    if not difference <= EQUAL_WITHIN:
        raise NotEqual(f"the graph differs from scikit-learn by up to {difference:.3g}")
    return {
        "probe_rows": PROBE_ROWS,
        "max_abs_difference": difference,
        "equal_within": EQUAL_WITHIN,
        "onnxruntime": onnxruntime.__version__,
    }


def typed_tensors(graph: bytes) -> dict:
    """The graph's tensors (name, datatype, shape) for metadata's signature.tensors."""
    import onnxruntime

    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    return graph_tensors(session)
