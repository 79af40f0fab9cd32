"""The runtime that computes probabilities: ONNX Runtime only when it proves equal."""

from __future__ import annotations

import numpy as np
import pytest

from app.inference import EQUAL_WITHIN, choose_runner, onnx_runner, probe_rows, sklearn_runner
from training.export_onnx import export_onnx
from training.model import build_pipeline


def test_onnx_answers_like_scikit_learn_on_the_test_split(trained, onnx_graph):
    pipeline, dataset, _ = trained
    got = onnx_runner(onnx_graph).predict_proba(dataset.x_test)
    expected = sklearn_runner(pipeline).predict_proba(dataset.x_test)
    assert got.shape == expected.shape == (len(dataset.x_test), 3)
    assert np.abs(got - expected).max() <= EQUAL_WITHIN


def test_a_proven_graph_is_chosen(trained, onnx_graph):
    runner, reason = choose_runner(trained[0], onnx_graph, 4, "auto")
    assert (runner.name, reason) == ("onnxruntime", "")


def test_scikit_learn_when_asked_or_when_there_is_no_graph(trained, onnx_graph):
    pipeline = trained[0]
    runner, reason = choose_runner(pipeline, onnx_graph, 4, "sklearn")
    assert (runner.name, reason) == ("scikit-learn", "MODEL_RUNTIME=sklearn")
    runner, reason = choose_runner(pipeline, None, 4, "auto")
    assert (runner.name, reason) == ("scikit-learn", "the version has no model.onnx")


def test_a_graph_that_does_not_load_falls_back(trained):
    runner, reason = choose_runner(trained[0], b"not an onnx graph", 4, "auto")
    assert runner.name == "scikit-learn"
    assert reason.startswith("ONNX Runtime cannot run model.onnx")


def test_a_graph_of_another_model_falls_back(trained):
    pipeline, dataset, _ = trained
    other = build_pipeline("knn", seed=0).fit(dataset.x_train, dataset.y_train)
    runner, reason = choose_runner(pipeline, export_onnx(other, 4), 4, "auto")
    assert runner.name == "scikit-learn"
    assert reason.startswith("model.onnx differs from scikit-learn by up to")


def test_probe_rows_are_fixed_and_spread():
    rows = probe_rows(4)
    assert rows.shape == (64, 4) and np.array_equal(rows, probe_rows(4))
    assert not rows[0].any() and rows.std() > 1


@pytest.mark.parametrize("n_rows", [1, 7, 1000])
def test_any_batch_size(trained, onnx_graph, n_rows):
    rows = np.random.default_rng(n_rows).uniform(0, 8, (n_rows, 4))
    assert onnx_runner(onnx_graph).predict_proba(rows).shape == (n_rows, 3)
