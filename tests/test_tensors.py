"""The typed signature: every version says each tensor's datatype and shape, truthfully."""

from __future__ import annotations

import copy

import pytest

from model_registry import RegistryError, list_versions, load_verified, publish
from model_registry.tensors import check_tensors, default_tensors, describe, tensors_of
from training.cli import main

NAME = "iris-classifier"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]
IRIS = default_tensors(4, 3)


def test_training_records_the_graphs_tensors(tmp_path, trusted):
    assert main(["--registry", str(tmp_path)]) == 0
    signature = load_verified(tmp_path, NAME, trusted=trusted).metadata["signature"]
    assert signature["tensors"] == IRIS
    assert describe(signature["tensors"]) == (
        "X FP64 [-1, 4] -> label INT64 [-1], probabilities FP64 [-1, 3]"
    )


def test_a_version_published_before_typed_tensors_still_loads(
    tmp_path, trained, fields, onnx_graph, signing_key, trusted
):
    """Old readers ignore the key; new readers give older versions their graph's tensors."""
    del fields["signature"]["tensors"]
    publish(tmp_path, NAME, trained[0], fields, onnx_model=onnx_graph, signing_key=signing_key)
    metadata = load_verified(tmp_path, NAME, trusted=trusted).metadata
    assert "tensors" not in metadata["signature"]
    assert tensors_of(metadata["signature"]) == IRIS


def _signature(tensors) -> dict:
    return {"inputs": FEATURES, "outputs": CLASSES, "tensors": tensors}


def _changed(path: tuple, value) -> dict:
    tensors = copy.deepcopy(IRIS)
    *parents, last = path
    target = tensors
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return tensors


BAD = {
    "not an object": (["X"], "is not {inputs, outputs}"),
    "an extra part": ({**IRIS, "extra": []}, "is not {inputs, outputs}"),
    "no inputs": (_changed(("inputs",), []), "inputs is not a non-empty list"),
    "integer input": (_changed(("inputs", 0, "datatype"), "INT64"), "expected one input of FP64"),
    "FP32 input": (_changed(("inputs", 0, "datatype"), "FP32"), "expected one input of FP64"),
    "two inputs": (_changed(("inputs",), IRIS["inputs"] * 2), "expected one input of FP64"),
    "three features": (_changed(("inputs", 0, "shape"), [-1, 3]), "is not [-1, 4] (the features)"),
    "a zero size": (_changed(("inputs", 0, "shape"), [0, 4]), "is not {name, datatype, shape}"),
    "a text size": (_changed(("inputs", 0, "shape"), [-1, "4"]), "is not {name, datatype, shape}"),
    "no datatype": (
        _changed(("inputs", 0, "datatype"), KeyError),
        "is not {name, datatype, shape}",
    ),
    "float labels": (_changed(("outputs", 0, "datatype"), "FP64"), "no 'label' output of INT64"),
    "no label": (_changed(("outputs", 0, "name"), "class"), "no 'label' output"),
    "2-D labels": (_changed(("outputs", 0, "shape"), [-1, 1]), "'label' shape [-1, 1] is not [-1]"),
    "two classes": (
        _changed(("outputs", 1, "shape"), [-1, 2]),
        "'probabilities' shape [-1, 2] is not [-1, 3] (the classes)",
    ),
    "text probabilities": (
        _changed(("outputs", 1, "datatype"), "BYTES"),
        "no 'probabilities' output of floats",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_malformed_or_untruthful_tensors_are_refused(case):
    tensors, message = BAD[case]
    with pytest.raises(RegistryError, match=r"iris v1: metadata signature\.tensors") as error:
        check_tensors(_signature(tensors), "iris v1")
    assert message in str(error.value)


@pytest.mark.parametrize("tensors", [IRIS, _changed(("outputs", 1, "datatype"), "FP32")])
def test_well_formed_tensors_pass(tensors):
    check_tensors(_signature(tensors), "iris v1")


def test_training_cannot_publish_tensors_its_graph_does_not_have(
    tmp_path, trained, fields, onnx_graph, signing_key
):
    fields["signature"]["tensors"] = _changed(("inputs", 0, "shape"), [-1, 5])
    with pytest.raises(RegistryError, match=r"input shape \[-1, 5\] is not \[-1, 4\]"):
        publish(tmp_path, NAME, trained[0], fields, onnx_model=onnx_graph, signing_key=signing_key)
    assert list_versions(tmp_path, NAME) == [] and not (tmp_path / NAME / "LATEST").exists()
