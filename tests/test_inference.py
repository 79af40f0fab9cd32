"""The runtime serving computes probabilities with: ONNX Runtime, on a graph proven equal.

Training proves the graph (training.export_onnx.prove_equal) before it publishes;
serving has no other runtime to fall back to.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.inference import RUNTIME, onnx_runner
from labctl.probes import floor as floor_probe
from training.export_onnx import (
    EQUAL_WITHIN,
    PROBE_ROWS,
    NotEqual,
    export_onnx,
    probe_rows,
    prove_equal,
)
from training.model import build_pipeline


def test_onnx_answers_like_scikit_learn_on_the_test_split(trained, onnx_graph):
    pipeline, dataset, _ = trained
    got = onnx_runner(onnx_graph).predict_proba(dataset.x_test)
    expected = pipeline.predict_proba(dataset.x_test)
    assert got.shape == expected.shape == (len(dataset.x_test), 3)
    assert np.abs(got - expected).max() <= EQUAL_WITHIN


def test_the_runner_is_onnx_runtime(onnx_graph):
    assert onnx_runner(onnx_graph).name == RUNTIME == "onnxruntime"


def test_a_graph_of_the_pipeline_is_proven_equal(trained, onnx_graph):
    proof = prove_equal(trained[0], onnx_graph, 4)
    assert set(proof) == {"probe_rows", "max_abs_difference", "equal_within", "onnxruntime"}
    assert proof["probe_rows"] == PROBE_ROWS and proof["equal_within"] == EQUAL_WITHIN
    assert 0 <= proof["max_abs_difference"] <= EQUAL_WITHIN


def test_a_graph_of_another_model_is_not_proven(trained):
    pipeline, dataset, _ = trained
    other = build_pipeline("knn", seed=0).fit(dataset.x_train, dataset.y_train)
    with pytest.raises(NotEqual, match="the graph differs from scikit-learn by up to"):
        prove_equal(pipeline, export_onnx(other, 4), 4)


def test_a_graph_that_does_not_load_is_not_proven(trained):
    # Training refuses to publish on any exception here, not only NotEqual.
    with pytest.raises(Exception, match="INVALID_PROTOBUF"):
        prove_equal(trained[0], b"not an onnx graph", 4)


def test_probe_rows_are_fixed_and_spread():
    rows = probe_rows(4)
    assert rows.shape == (PROBE_ROWS, 4) and np.array_equal(rows, probe_rows(4))
    assert not rows[0].any() and rows.std() > 1


@pytest.mark.parametrize("n_rows", [1, 7, 1000])
def test_any_batch_size(trained, onnx_graph, n_rows):
    rows = np.random.default_rng(n_rows).uniform(0, 8, (n_rows, 4))
    assert onnx_runner(onnx_graph).predict_proba(rows).shape == (n_rows, 3)


def test_the_benchmark_floor_compares_the_same_answers(trained, onnx_graph):
    """The floor probe (labctl/probes/floor.py) times scikit-learn beside ONNX: both must
    answer alike."""
    pipeline, dataset, _ = trained
    assert set(floor_probe.RUNTIMES) == {"scikit-learn", RUNTIME}
    predict_proba = floor_probe.sklearn_predict_proba(pipeline)
    difference = predict_proba(dataset.x_test) - onnx_runner(onnx_graph).predict_proba(
        dataset.x_test
    )
    assert np.abs(difference).max() <= EQUAL_WITHIN
