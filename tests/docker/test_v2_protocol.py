"""tritonclient against the real stack, through nginx: the Open Inference Protocol (V2)
describes the served model, classifies the iris rows as /predict does (binary tensor
data and JSON both), and a bad request is the client's error, never a 5xx.

Nothing here changes the stack (a few counted predictions aside), so it runs on the
session's shared Lab 2 stack (`lab2`), as the other read-only tests do, rather than
starting one of its own (`own_stack`, for modules that break and mend theirs)."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
import tritonclient.http as triton
from sklearn.datasets import load_iris
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.docker

NAME = "iris-classifier"
CLASSES = ["setosa", "versicolor", "virginica"]


def v2_client(stack) -> triton.InferenceServerClient:
    """tritonclient on the stack's public port: what nginx lets through, nothing else."""
    return triton.InferenceServerClient(url=stack.url.removeprefix("http://"))


def predicted(stack, rows: np.ndarray) -> list[dict]:
    request = urllib.request.Request(
        stack.url + "/predict",
        data=json.dumps({"instances": rows.tolist()}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["predictions"]


def test_v2_health_and_metadata_through_the_proxy(lab2):
    version = lab2.served_version()
    with v2_client(lab2) as client:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready(NAME) and client.is_model_ready(NAME, version)
        assert not client.is_model_ready(NAME, "v999")
        assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
        metadata = client.get_model_metadata(NAME)
        assert metadata["versions"] == [version] and metadata["platform"] == "onnx_onnxv1"
        assert metadata["inputs"] == [{"name": "X", "datatype": "FP64", "shape": [-1, 4]}]
        assert [output["name"] for output in metadata["outputs"]] == [
            "label",
            "probabilities",
            "class_name",
        ]
        assert client.get_model_metadata(NAME, version) == metadata


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_the_iris_rows_get_the_classes_predict_gives(lab2, binary):
    rows = load_iris().data.astype(np.float64)  # all 150 flowers, one request
    expected = predicted(lab2, rows)
    tensor = triton.InferInput("X", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    outputs = [
        triton.InferRequestedOutput(name, binary_data=binary)
        for name in ("label", "probabilities", "class_name")
    ]
    with v2_client(lab2) as client:
        result = client.infer(NAME, [tensor], outputs=outputs, request_id="iris-150")
    answer = result.get_response()
    assert answer["id"] == "iris-150" and answer["model_version"] == lab2.served_version()
    assert result.as_numpy("label").tolist() == [p["class_index"] for p in expected]
    names = [
        name if isinstance(name, str) else name.decode() for name in result.as_numpy("class_name")
    ]
    assert names == [p["class_name"] for p in expected]
    assert set(names) == set(CLASSES)  # the rows cover every class: a real comparison
    # The same graph on the same version: the same numbers, whichever worker answered.
    np.testing.assert_allclose(
        result.as_numpy("probabilities"),
        [[p["probabilities"][c] for c in CLASSES] for p in expected],
        rtol=0,
        atol=1e-12,
    )


def _tensor(name: str, rows, binary: bool = True) -> triton.InferInput:
    tensor = triton.InferInput(name, list(np.shape(rows)), "FP64")
    tensor.set_data_from_numpy(np.asarray(rows, dtype=np.float64), binary_data=binary)
    return tensor


@pytest.mark.parametrize(
    ("model", "tensor", "status", "message"),
    [
        (NAME, lambda: _tensor("X", [[5.1, 3.5, 1.4, 1000.0]]), "400", "outside the allowed range"),
        (NAME, lambda: _tensor("X", [[5.1, 3.5, 1.4, np.nan]]), "400", "must be a finite number"),
        (
            NAME,
            # tritonclient writes Infinity into the JSON; refused as /predict refuses it.
            lambda: _tensor("X", [[5.1, 3.5, 1.4, np.inf]], binary=False),
            "400",
            "must be a finite number, got inf",
        ),
        (NAME, lambda: _tensor("input0", [[5.1, 3.5, 1.4, 0.2]]), "400", "unknown input 'input0'"),
        (NAME, lambda: _tensor("X", [[5.1, 3.5, 1.4]]), "400", "shape [1, 3] is not [rows, 4]"),
        (
            "resnet50",
            lambda: _tensor("X", [[5.1, 3.5, 1.4, 0.2]]),
            "404",
            "unknown model 'resnet50'",
        ),
    ],
    ids=["out-of-range", "nan", "infinity-as-json", "wrong-name", "wrong-shape", "wrong-model"],
)
def test_a_bad_request_is_the_clients_error_never_a_5xx(lab2, model, tensor, status, message):
    with v2_client(lab2) as client:
        with pytest.raises(InferenceServerException) as refused:
            client.infer(model, [tensor()])
        assert refused.value.status() == status
        # The protocol's error shape reached the client: a message, not an object.
        assert isinstance(refused.value.message(), str) and message in refused.value.message()
        assert client.is_server_ready()
