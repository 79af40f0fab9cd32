"""The Open Inference Protocol (V2) beside /predict: every route, JSON and binary tensor
data both ways, the same validation and counting as /predict, errors in the protocol's
shape; and tritonclient, a client nobody here wrote, against the app on a real socket."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import struct
import threading
import tomllib

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException
from werkzeug.serving import make_server

from app import create_app, v2_protocol
from app.inference import Runner
from app.model_store import EXTENSION, get_store
from app.prediction import classify
from app.settings import ServingSettings
from labctl.settings import ROOT
from tests import compose_file
from tests.metrics_scrape import metric

NAME = "iris-classifier"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]
SETOSA = [5.1, 3.5, 1.4, 0.2]
VERSICOLOR = [5.7, 2.8, 4.1, 1.3]
VIRGINICA = [6.3, 3.3, 6.0, 2.5]
ROWS = [SETOSA, VERSICOLOR, VIRGINICA, [0, 0, 0, 0], [100, 100, 100, 100]]
INFER = f"/v2/models/{NAME}/infer"
HEADER = "Inference-Header-Content-Length"


def v2_error(response, status: int) -> str:
    """The message of a V2 error answer: {"error": "<message>"}, JSON, the given status."""
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["error"] and isinstance(body["error"], str), body
    assert "Traceback" not in body["error"]
    return body["error"]


def input_tensor(rows, datatype: str = "FP64", nested: bool = False) -> dict:
    data = [list(row) for row in rows] if nested else [value for row in rows for value in row]
    return {"name": "X", "shape": [len(rows), 4], "datatype": datatype, "data": data}


def outputs_of(answer: dict) -> dict:
    return {output["name"]: output for output in answer["outputs"]}


def predicted(client, rows) -> list[dict]:
    """What /predict answers for the rows."""
    response = client.post("/predict", json={"instances": [list(row) for row in rows]})
    assert response.status_code == 200, response.data
    return response.get_json()["predictions"]


def binary_request(rows: np.ndarray, outputs=None, **options) -> tuple[bytes, dict]:
    """A request as tritonclient encodes it (binary input data by default): body, headers."""
    tensor = triton.InferInput(
        "X", list(rows.shape), "FP32" if rows.dtype == np.float32 else "FP64"
    )
    tensor.set_data_from_numpy(rows, binary_data=options.pop("binary_data", True))
    body, json_length = triton.InferenceServerClient.generate_request_body(
        [tensor], outputs=outputs, **options
    )
    return body, ({} if json_length is None else {HEADER: str(json_length)})


def triton_result(response) -> triton.InferResult:
    """The answer read as tritonclient reads one."""
    assert response.status_code == 200, response.data
    return triton.InferenceServerClient.parse_response_body(
        response.data, header_length=response.headers.get(HEADER)
    )


# ------------------------------------------------------------------ health, metadata --


def test_server_metadata_names_the_server_and_its_one_extension(app, client):
    app.config["SETTINGS"] = dataclasses.replace(app.config["SETTINGS"], server_version="9.8.7")
    response = client.get("/v2")
    assert response.status_code == 200
    assert response.get_json() == {
        "name": "mlops-docker-labs",
        "version": "9.8.7",
        "extensions": ["binary_tensor_data"],
    }


def test_the_server_version_is_the_images(monkeypatch):
    """The serving image puts its VERSION build argument in its environment, where the
    settings read it; the tasks build it with pyproject.toml's version (by default)."""
    monkeypatch.delenv("LABS_VERSION", raising=False)
    assert ServingSettings.from_env().server_version == "dev"  # not from an image
    monkeypatch.setenv("LABS_VERSION", "1.2.3")
    assert ServingSettings.from_env().server_version == "1.2.3"
    dockerfile = (ROOT / "docker" / "serving.Dockerfile").read_text()
    runtime = dockerfile[dockerfile.index(" AS runtime\n") :]
    assert re.search(r"^ARG VERSION=", runtime, re.M)
    assert re.search(r"^ENV LABS_VERSION=\$\{VERSION\}$", runtime, re.M)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    build = compose_file.config()["services"]["serving"]["build"]
    assert build["args"]["VERSION"] == project["version"]


def test_live_and_ready(client):
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    for path in (f"/v2/models/{NAME}/ready", f"/v2/models/{NAME}/versions/v1/ready"):
        response = client.get(path)
        assert response.status_code == 200 and response.get_json() == {"name": NAME, "ready": True}


def test_not_ready_until_a_verified_model_is_loaded(tmp_path, registry, trusted_dir):
    app = create_app(
        {"registry": tmp_path / "empty", "trusted_keys": trusted_dir, "reload_interval_s": 0}
    )
    client = app.test_client()
    try:
        assert client.get("/v2/health/live").status_code == 200
        for response in (
            client.get("/v2/health/ready"),
            client.get(f"/v2/models/{NAME}/ready"),
            client.get(f"/v2/models/{NAME}"),
            client.post(INFER, json={"inputs": [input_tensor([SETOSA])]}),
        ):
            assert "no model published yet" in v2_error(response, 503)
        # Another name is still unknown, ready or not.
        assert "unknown model" in v2_error(client.get("/v2/models/other/ready"), 404)
        store = get_store(app)
        store.registry = registry
        assert store.refresh() is True
        assert client.get("/v2/health/ready").status_code == 200
        assert client.post(INFER, json={"inputs": [input_tensor([SETOSA])]}).status_code == 200
    finally:
        get_store(app).stop()


def test_model_metadata_is_the_typed_signature_plus_the_class_name(app, client):
    tensors = get_store(app).current.tensors
    expected = {
        "name": NAME,
        "versions": ["v1"],
        "platform": "onnx_onnxv1",
        "inputs": [{"name": "X", "datatype": "FP64", "shape": [-1, 4]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
            {"name": "class_name", "datatype": "BYTES", "shape": [-1]},
        ],
    }
    assert tensors["inputs"] == expected["inputs"] and tensors["outputs"] == expected["outputs"][:2]
    assert client.get(f"/v2/models/{NAME}").get_json() == expected
    assert client.get(f"/v2/models/{NAME}/versions/v1").get_json() == expected


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/v2/models/other", "unknown model 'other'; this server serves 'iris-classifier'"),
        ("GET", "/v2/models/other/ready", "unknown model 'other'"),
        ("POST", "/v2/models/other/infer", "unknown model 'other'"),
        ("GET", "/v2/models/other/versions/v1", "unknown model 'other'"),
        (
            "GET",
            f"/v2/models/{NAME}/versions/v2",
            "iris-classifier version 'v2' is not served; the served version is v1",
        ),
        ("GET", f"/v2/models/{NAME}/versions/v0/ready", "the served version is v1"),
        ("POST", f"/v2/models/{NAME}/versions/v2/infer", "the served version is v1"),
    ],
)
def test_another_model_or_version_is_a_404_naming_the_served_one(client, method, path, message):
    body = {"inputs": [input_tensor([SETOSA])]}
    assert message in v2_error(client.open(path, method=method, json=body), 404)


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/v2/repository/index", 404, None),
        ("POST", "/v2/repository/index", 404, None),
        ("GET", f"/v2/models/{NAME}/config", 404, None),
        ("GET", f"/v2/models/{NAME}/stats", 404, None),
        ("GET", INFER, 405, "POST"),
        ("POST", "/v2/health/ready", 405, "GET"),
        ("POST", f"/v2/models/{NAME}", 405, "GET"),
    ],
)
def test_other_v2_paths_and_methods_get_v2_errors(client, method, path, status, allow):
    response = client.open(path, method=method)
    message = v2_error(response, status)
    assert response.headers.get("Allow") == allow
    if status == 404:
        assert "not part of this server's V2 API" in message


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/v2", "GET, HEAD"),
        ("OPTIONS", "/v2", "GET, HEAD"),
        ("PUT", INFER, None),
        ("DELETE", "/v2/health/live", None),
        ("PATCH", f"/v2/models/{NAME}/versions/v1", None),
        ("OPTIONS", "/v2/repository/index", None),
    ],
)
def test_a_method_no_v2_route_takes_is_a_405_in_the_v2_shape(client, method, path, allow):
    """werkzeug's routing refuses these before any blueprint is chosen: the app's error
    handling picks the shape by the path, and keeps the Allow header."""
    response = client.open(path, method=method)
    assert v2_error(response, 405) == "The method is not allowed for the requested URL."
    methods = set(response.headers["Allow"].split(", "))
    # Beside the route's own methods, the catch-all's GET and POST (which answer 404 or
    # 405 with the method to use: see the test above).
    assert methods == (set(allow.split(", ")) if allow else {"GET", "HEAD", "POST"})


@pytest.mark.parametrize("path", ["/v2/", "/v2//x", "/v2//", "/v2/models//infer"])
def test_paths_the_v2_routes_never_match_are_a_404_in_the_v2_shape(client, path):
    """Not werkzeug's redirect merging the slashes (a 308 with an HTML body), nor the
    API's 404: the protocol's, for GET and POST alike."""
    for method in ("GET", "POST"):
        response = client.open(path, method=method)
        v2_error(response, 404)
        assert "Location" not in response.headers


def test_only_v2_paths_get_the_v2_shape(client):
    for path in ("/v2x", "/v2x/models", "/V2/health/live", "/predict/v2"):
        response = client.get(path)
        assert response.status_code in (404, 405)
        assert set(response.get_json()["error"]) == {"code", "message"}, path
    # werkzeug routes "//v2/..." as "/v2/..." (the test client would read "//v2" as a
    # host, hence PATH_INFO): its errors are the protocol's too.
    response = client.post("/", environ_overrides={"PATH_INFO": "//v2/models/other/infer"})
    assert "unknown model 'other'" in v2_error(response, 404)


# ------------------------------------------------------------------------- inference --


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_json_inference_answers_as_predict_does(client, nested):
    response = client.post(
        INFER, json={"id": "request-7", "inputs": [input_tensor(ROWS, nested=nested)]}
    )
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert HEADER not in response.headers
    answer = response.get_json()
    assert (answer["model_name"], answer["model_version"], answer["id"]) == (
        NAME,
        "v1",
        "request-7",
    )
    assert [output["name"] for output in answer["outputs"]] == [
        "label",
        "probabilities",
        "class_name",
    ]
    outputs = outputs_of(answer)
    expected = predicted(client, ROWS)
    assert outputs["label"] == {
        "name": "label",
        "datatype": "INT64",
        "shape": [len(ROWS)],
        "data": [p["class_index"] for p in expected],
    }
    assert outputs["class_name"]["data"] == [p["class_name"] for p in expected]
    assert outputs["class_name"]["shape"] == [len(ROWS)]
    assert outputs["probabilities"]["shape"] == [len(ROWS), 3]
    # The same path computes both: the very same floats, in class order.
    assert outputs["probabilities"]["data"] == [
        p["probabilities"][name] for p in expected for name in CLASSES
    ]
    assert outputs["class_name"]["data"][:3] == CLASSES


def test_an_answer_without_an_id_has_none(client):
    answer = client.post(INFER, json={"inputs": [input_tensor([SETOSA])]}).get_json()
    assert "id" not in answer


def test_fp32_values_are_widened_exactly(client):
    """FP32 data is what a float32 holds: 5.1 as FP32 is 5.099999904632568, and the
    answer is /predict's for exactly that float64, whether the data is JSON or binary."""
    rows32 = np.array(ROWS, dtype=np.float32)
    widened = rows32.astype(np.float64).tolist()
    assert widened[0][0] == 5.099999904632568
    expected = predicted(client, widened)
    for body in (
        {"inputs": [input_tensor(ROWS, datatype="FP32")]},  # 5.1 in JSON, rounded as declared
        {"inputs": [input_tensor(widened, datatype="FP32")]},
    ):
        outputs = outputs_of(client.post(INFER, json=body).get_json())
        assert outputs["probabilities"]["data"] == [
            p["probabilities"][name] for p in expected for name in CLASSES
        ]
    body, headers = binary_request(rows32)
    result = triton_result(client.post(INFER, data=body, headers=headers))
    probabilities = [[p["probabilities"][name] for name in CLASSES] for p in expected]
    assert result.as_numpy("probabilities").tolist() == probabilities


def test_fp32_is_rounded_before_the_range_is_checked_json_or_binary_alike(client):
    """100.000001 as FP32 is 100.0, inside the range: JSON FP32 data is rounded first, as
    binary FP32 data (which can hold nothing else) is, so both get the same 200. As FP64
    it is outside the range, a 400."""
    row = [5.1, 3.5, 1.4, 100.000001]
    assert float(np.float32(row[3])) == 100.0
    as_json = client.post(INFER, json={"inputs": [input_tensor([row], datatype="FP32")]})
    body, headers = binary_request(np.array([row], dtype=np.float32))
    as_binary = client.post(INFER, data=body, headers=headers)
    from_json, from_binary = triton_result(as_json), triton_result(as_binary)
    for output in ("label", "probabilities"):
        assert from_json.as_numpy(output).tolist() == from_binary.as_numpy(output).tolist()
    fp64 = client.post(INFER, json={"inputs": [input_tensor([row])]})
    assert v2_error(fp64, 400) == (
        "X row 0, petal_width: 100.000001 is outside the allowed range, 0 to 100 cm"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # Rounded first, 100.000001 is fine: the string after it is what is wrong.
        ([5.1, 3.5, 100.000001, "0.2"], "X row 0, petal_width: expected a number, got a string"),
        # Beyond FP32's range there is nothing to round to: refused as sent.
        ([5.1, 3.5, 1.4, 1e39], "X row 0, petal_width: 1e+39 is outside the allowed range"),
        ([5.1, 3.5, 1.4, 10**400], "X row 0, petal_width: 1000"),
        # Rounded, and still outside: named as FP32 holds it, as binary data would be.
        ([5.1, 3.5, 1.4, 100.0001], "X row 0, petal_width: 100.0000991821289 is outside"),
    ],
    ids=["string-after-a-rounded-value", "beyond-fp32", "beyond-float64", "rounded-still-out"],
)
def test_fp32_json_data_that_is_refused_is_named_as_binary_would_be(client, data, message):
    tensor = {"name": "X", "shape": [1, 4], "datatype": "FP32", "data": data}
    # json.dumps: orjson (the test client's encoder here) has no integers past 64 bits.
    refused = v2_error(client.post(INFER, data=json.dumps({"inputs": [tensor]})), 400)
    assert refused.startswith(message)


def test_binary_in_and_out_as_tritonclient_sends_and_reads_it(client):
    """outputs=None: tritonclient asks for every output as binary (binary_data_output)."""
    rows = np.array(ROWS, dtype=np.float64)
    body, headers = binary_request(rows, request_id="b-1")
    assert json.loads(body[: int(headers[HEADER])])["parameters"] == {"binary_data_output": True}
    response = client.post(INFER, data=body, headers=headers)
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Cache-Control"] == "no-store"  # as every JSON answer
    json_length = int(response.headers[HEADER])
    header = json.loads(response.data[:json_length])
    sizes = {o["name"]: o["parameters"]["binary_data_size"] for o in header["outputs"]}
    names_bytes = sum(4 + len(p["class_name"]) for p in predicted(client, ROWS))
    assert sizes == {
        "label": 8 * len(ROWS),
        "probabilities": 8 * 3 * len(ROWS),
        "class_name": names_bytes,
    }
    assert len(response.data) == json_length + sum(sizes.values())
    assert all("data" not in output for output in header["outputs"])
    assert header["id"] == "b-1"
    result = triton_result(response)
    expected = predicted(client, ROWS)
    assert result.as_numpy("label").tolist() == [p["class_index"] for p in expected]
    assert result.as_numpy("label").dtype == np.int64
    assert result.as_numpy("class_name").tolist() == [p["class_name"].encode() for p in expected]
    assert result.as_numpy("probabilities").tolist() == [
        [p["probabilities"][name] for name in CLASSES] for p in expected
    ]


def test_a_subset_of_outputs_in_the_order_asked_binary_or_json_each(client):
    body = {
        "inputs": [input_tensor([SETOSA, VIRGINICA])],
        "outputs": [
            {"name": "class_name", "parameters": {"binary_data": True}},
            {"name": "label"},
        ],
    }
    response = client.post(INFER, json=body)
    json_length = int(response.headers[HEADER])
    header = json.loads(response.data[:json_length])
    assert [o["name"] for o in header["outputs"]] == ["class_name", "label"]
    assert header["outputs"][1]["data"] == [0, 2]
    # BYTES as binary: each element's length, 4 bytes little-endian, then its bytes.
    assert response.data[json_length:] == (
        struct.pack("<I", 6) + b"setosa" + struct.pack("<I", 9) + b"virginica"
    )
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 4 + 6 + 4 + 9}


def test_binary_data_output_sets_the_default_and_an_output_overrides_it(client):
    body = {
        "inputs": [input_tensor([SETOSA])],
        "parameters": {"binary_data_output": True},
        "outputs": [
            {"name": "label", "parameters": {"binary_data": False}},
            {"name": "probabilities"},
        ],
    }
    response = client.post(INFER, json=body)
    result = triton_result(response)
    label, probabilities = result.get_response()["outputs"]
    assert label["data"] == [0] and "parameters" not in label
    assert probabilities["parameters"]["binary_data_size"] == 24 and "data" not in probabilities
    assert result.as_numpy("probabilities").shape == (1, 3)


def test_a_batch_of_the_limit_is_answered_and_one_more_is_413(make_app):
    app = make_app(max_batch=5)
    client = app.test_client()
    try:
        answer = client.post(INFER, json={"inputs": [input_tensor([SETOSA] * 5)]}).get_json()
        assert outputs_of(answer)["label"]["data"] == [0] * 5
        # The shape alone is refused: the limit holds before any data is read.
        too_many = {"name": "X", "shape": [6, 4], "datatype": "FP64", "data": []}
        message = v2_error(client.post(INFER, json={"inputs": [too_many]}), 413)
        assert message == "6 instances in one request; the limit is 5"
        predict = client.post("/predict", json={"instances": [SETOSA] * 6})
        assert predict.status_code == 413 and predict.get_json()["error"]["message"] == message
        rows = np.array([SETOSA] * 6)
        body, headers = binary_request(rows)
        assert "6 instances" in v2_error(client.post(INFER, data=body, headers=headers), 413)
    finally:
        get_store(app).stop()


def test_a_body_over_the_limit_is_413_with_or_without_a_length(make_app):
    app = make_app(max_body_bytes=1024)
    client = app.test_client()
    try:
        body = json.dumps({"inputs": [input_tensor([SETOSA])]}).encode() + b" " * 2000
        v2_error(client.post(INFER, data=body), 413)
        chunked = client.post(
            INFER,
            input_stream=io.BytesIO(body),
            environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
        )
        assert "larger than 1 KiB" in v2_error(chunked, 413)
        assert client.post(INFER, data=body[:1000]).status_code == 200
    finally:
        get_store(app).stop()


def test_the_content_type_is_not_looked_at(client):
    """tritonclient sends none; curl -d sends a form's: the body is the protocol's either way."""
    body = json.dumps({"inputs": [input_tensor([SETOSA])]})
    for content_type in (None, "application/x-www-form-urlencoded", "application/octet-stream"):
        headers = {"Content-Type": content_type} if content_type else {}
        assert client.post(INFER, data=body, headers=headers).status_code == 200


def test_predictions_and_requests_are_counted_as_predicts_are(client):
    route = (
        'serving_http_requests_total{method="POST",route="/v2/models/<name>/infer",status="200"}'
    )
    refused = route.replace('status="200"', 'status="400"')
    before = {
        name: metric(client, f'serving_predictions_total{{class_name="{name}"}}')
        for name in CLASSES
    }
    requests_before, refused_before = metric(client, route), metric(client, refused)
    client.post(INFER, json={"inputs": [input_tensor([SETOSA, SETOSA, VIRGINICA])]})
    body, headers = binary_request(np.array([VERSICOLOR]))
    client.post(INFER, data=body, headers=headers)
    v2_error(client.post(INFER, json={"inputs": [input_tensor([[1e9] * 4])]}), 400)
    after = {
        name: metric(client, f'serving_predictions_total{{class_name="{name}"}}')
        for name in CLASSES
    }
    assert {name: after[name] - before[name] for name in CLASSES} == {
        "setosa": 2,
        "versicolor": 1,
        "virginica": 1,
    }
    assert metric(client, route) == requests_before + 2
    assert metric(client, refused) == refused_before + 1


def test_a_non_finite_answer_is_never_sent_nor_counted(app, client, monkeypatch):
    store = get_store(app)
    runner = Runner("fake", lambda rows: np.repeat([[math.nan, 0.5, 0.5]], len(rows), axis=0))
    monkeypatch.setattr(store, "current", dataclasses.replace(store.current, runner=runner))
    before = metric(client, 'serving_predictions_total{class_name="versicolor"}')
    message = v2_error(client.post(INFER, json={"inputs": [input_tensor([SETOSA])]}), 400)
    assert "no finite probabilities" in message
    assert metric(client, 'serving_predictions_total{class_name="versicolor"}') == before


def test_an_unexpected_failure_is_a_500_in_the_v2_shape_and_logged(
    app, client, monkeypatch, caplog
):
    def broken(rows):
        raise RuntimeError("the runtime broke")

    store = get_store(app)
    runner = Runner("broken", broken)
    monkeypatch.setattr(store, "current", dataclasses.replace(store.current, runner=runner))
    response = client.post(INFER, json={"inputs": [input_tensor([SETOSA])]})
    assert v2_error(response, 500) == "internal error; see the server log"
    assert "the runtime broke" not in response.get_data(as_text=True)
    assert any(r.getMessage() == "unhandled error" and r.exc_info for r in caplog.records)


class CountingStore:
    """A model store that counts how often a request reads `current`."""

    name = NAME
    not_ready_reason = ""

    def __init__(self, served):
        self._served = served
        self.reads = 0

    @property
    def current(self):
        self.reads += 1
        return self._served


@pytest.mark.parametrize(
    "path",
    [INFER, f"/v2/models/{NAME}/versions/v1/infer", f"/v2/models/{NAME}", "/v2/health/ready"],
)
def test_the_served_model_is_read_once_per_request(app, client, monkeypatch, path):
    """A swap is one reference assignment: a request reading `current` twice could
    validate against one version and answer with another."""
    store = CountingStore(get_store(app).current)
    monkeypatch.setitem(app.extensions, EXTENSION, store)
    method = "POST" if path.endswith("infer") else "GET"
    response = client.open(path, method=method, json={"inputs": [input_tensor([SETOSA])]})
    assert response.status_code == 200 and store.reads == 1


# ------------------------------------------------- the same validation as /predict --


@pytest.mark.parametrize(
    "value",
    [1e200, -1, 100.00000000000001, "5.1", True, None, [5.1], {"v": 1}, 10**400],
    ids=repr,
)
def test_a_bad_value_is_refused_in_predicts_words(client, value):
    """The same check, the same message: only where the value sits is said the V2 way,
    and the status is the protocol's 400 (as Triton's), where /predict's is a 422."""
    row = [5.1, 3.5, 1.4, value]
    predict = client.post(
        "/predict", data=json.dumps({"instances": [row]}), content_type="application/json"
    )
    assert predict.status_code == 422
    expected = predict.get_json()["error"]["message"]
    assert expected.startswith("instance 0, petal_width: ")
    tensor = {"name": "X", "shape": [1, 4], "datatype": "FP64", "data": row}
    # json.dumps: orjson (the test client's encoder here) has no integers past 64 bits.
    message = v2_error(client.post(INFER, data=json.dumps({"inputs": [tensor]})), 400)
    assert message == expected.replace("instance 0, ", "X row 0, ")


def test_nan_and_infinity_are_refused_in_json_and_in_binary(client):
    # Python's json reads NaN and Infinity (not JSON): /predict refuses them, and so does V2.
    body = b'{"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP64", "data": [1, 2, 3, 4, 1, NaN, 3, 4]}]}'
    assert v2_error(client.post(INFER, data=body), 400) == (
        "X row 1, sepal_width: must be a finite number, got nan"
    )
    for bad, message in [
        (math.inf, "X row 1, petal_width: must be a finite number, got inf"),
        (-math.nan, "X row 1, petal_width: must be a finite number, got nan"),
        (1e9, "X row 1, petal_width: 1000000000.0 is outside the allowed range, 0 to 100 cm"),
    ]:
        rows = np.array([SETOSA, [5.1, 3.5, 1.4, bad]])
        binary_body, headers = binary_request(rows)
        assert v2_error(client.post(INFER, data=binary_body, headers=headers), 400) == message
    rows32 = np.array([[5.1, 3.5, 1.4, 1e30]], dtype=np.float32)
    binary_body, headers = binary_request(rows32)
    assert "outside the allowed range" in v2_error(
        client.post(INFER, data=binary_body, headers=headers), 400
    )


def test_plain_data_is_checked_in_bulk_never_value_by_value(client, monkeypatch):
    """As /predict's plain batches: one value at a time (~20x slower) only finds and names
    the problem in refused data."""

    def one_by_one(*args):
        raise AssertionError("plain data went value by value")

    monkeypatch.setattr(v2_protocol, "number", one_by_one)
    rows = [SETOSA, [6, 3, 5, 2], [0] * 4, [100] * 4]
    for body, headers in (
        (json.dumps({"inputs": [input_tensor(rows, nested=True)]}).encode(), {}),
        (json.dumps({"inputs": [input_tensor(rows, datatype="FP32")]}).encode(), {}),
        binary_request(np.array(rows, dtype=np.float64)),
        binary_request(np.array(rows, dtype=np.float32)),
    ):
        assert client.post(INFER, data=body, headers=headers).status_code == 200


# --------------------------------------------------------- protocol errors: 400 --

GOOD = input_tensor([SETOSA])


def _with(**fields) -> dict:
    return {"inputs": [{**GOOD, **fields}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "the body is not valid JSON"),
        (b"", "the request body is empty; send JSON"),
        (b'{"inputs": [], "inputs": []}', "duplicate key 'inputs'"),
        ([GOOD], 'the body must be an inference request object: {"inputs": [...]}'),
        ({"inputs": [GOOD], "model_name": NAME}, "the request: unknown field 'model_name'"),
        ({"inputs": [GOOD], "id": 7}, "id must be a string"),
        ({}, "inputs must be a list of one tensor, 'X'"),
        ({"inputs": [GOOD, GOOD]}, "inputs must be a list of one tensor, 'X'"),
        ({"inputs": ["X"]}, "inputs: the tensor must be an object"),
        (_with(name="Y"), "unknown input 'Y'; the model's input is 'X'"),
        (_with(name=["X"]), "unknown input ['X']"),
        (_with(layout="NHWC"), "the input: unknown field 'layout'"),
        (_with(datatype="INT64"), "X: datatype 'INT64' is not supported; send FP64 or FP32"),
        (_with(datatype="fp64"), "datatype 'fp64' is not supported"),
        (_with(datatype=["FP64"]), "datatype ['FP64'] is not supported"),
        (_with(shape=[1, 3]), "X: shape [1, 3] is not [rows, 4]"),
        (_with(shape=[4]), "X: shape [4] is not [rows, 4]"),
        (_with(shape=[1, 4, 1]), "shape [1, 4, 1] is not"),
        (_with(shape=[0, 4], data=[]), "shape [0, 4] is not [rows, 4] (at least one row"),
        (_with(shape=[-1, 4]), "shape [-1, 4] is not"),
        (_with(shape=[True, 4]), "shape [True, 4] is not"),
        (_with(shape=[1.0, 4]), "shape [1.0, 4] is not"),
        (_with(shape="1,4"), "shape '1,4' is not"),
        (_with(data=[5.1, 3.5, 1.4]), "X: shape [1, 4] has 4 values; data has 3"),
        (_with(shape=[2, 4]), "X: shape [2, 4] has 8 values; data has 4"),
        (_with(shape=[2, 4], data=[SETOSA, [1, 2, 3]]), "must be 2 lists of 4 values"),
        (_with(data=[SETOSA, SETOSA]), "as one list per row must be 1 lists of 4 values"),
        (_with(data="5.1 3.5 1.4 0.2"), "X: data must be a list"),
        (
            {"inputs": [{k: v for k, v in GOOD.items() if k != "data"}]},
            "X: no data, and no binary_data_size",
        ),
        (_with(parameters={"binary_data_size": 32}), "X: both data and binary_data_size"),
        (
            _with(parameters={"binary_data_size": True}),
            "parameter 'binary_data_size' must be an integer",
        ),
        (
            _with(parameters={"shared_memory_region": "r"}),
            "parameter 'shared_memory_region' is not supported",
        ),
        (_with(parameters=[]), "X: parameters must be an object"),
        (
            {"inputs": [GOOD], "parameters": {"priority": 1}},
            "the request: parameter 'priority' is not supported (supported: binary_data_output)",
        ),
        (
            {"inputs": [GOOD], "parameters": {"binary_data_output": 1}},
            "parameter 'binary_data_output' must be a boolean",
        ),
        (
            {"inputs": [GOOD], "outputs": [{"name": "score"}]},
            "unknown output 'score'; the outputs are label, probabilities, class_name",
        ),
        ({"inputs": [GOOD], "outputs": [{"name": ["label"]}]}, "unknown output ['label']"),
        (
            {"inputs": [GOOD], "outputs": [{"name": "label"}, {"name": "label"}]},
            "output 'label' is asked for twice",
        ),
        ({"inputs": [GOOD], "outputs": []}, "outputs must be a non-empty list"),
        ({"inputs": [GOOD], "outputs": {"name": "label"}}, "outputs must be a non-empty list"),
        ({"inputs": [GOOD], "outputs": ["label"]}, "outputs: each must be an object"),
        (
            {"inputs": [GOOD], "outputs": [{"name": "label", "shape": [1]}]},
            "an output: unknown field 'shape'",
        ),
        # Triton's classification extension is not served: said so, not ignored.
        (
            {
                "inputs": [GOOD],
                "outputs": [{"name": "probabilities", "parameters": {"classification": 2}}],
            },
            "probabilities: parameter 'classification' is not supported",
        ),
        (
            {
                "inputs": [GOOD],
                "outputs": [{"name": "label", "parameters": {"binary_data": "yes"}}],
            },
            "parameter 'binary_data' must be a boolean",
        ),
        (_with(name="X" * 500), "unknown input 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX..."),
    ],
)
def test_a_malformed_request_is_a_400_in_so_many_words(client, body, message):
    response = (
        client.post(INFER, data=body) if isinstance(body, bytes) else client.post(INFER, json=body)
    )
    assert message in v2_error(response, 400)


def _binary_body(declared: int | None, data: bytes, json_length: int | str | None = "auto"):
    tensor = {"name": "X", "shape": [1, 4], "datatype": "FP64"}
    if declared is not None:
        tensor["parameters"] = {"binary_data_size": declared}
    header = json.dumps({"inputs": [tensor]}).encode()
    headers = (
        {}
        if json_length is None
        else {HEADER: str(len(header) if json_length == "auto" else json_length)}
    )
    return header + data, headers


ROW_BYTES = np.array(SETOSA, dtype="<f8").tobytes()


@pytest.mark.parametrize(
    ("declared", "data", "json_length", "message"),
    [
        (32, b"", None, f"X: binary_data_size needs the {HEADER} header"),
        (32, ROW_BYTES, None, f"(binary tensor data after the JSON needs the {HEADER} header"),
        (31, ROW_BYTES[:31], "auto", "X: binary_data_size is 31; 4 FP64 values are 32 bytes"),
        (32, ROW_BYTES[:24], "auto", "X: binary_data_size is 32, but 24 bytes follow the JSON"),
        (32, ROW_BYTES + b"\0", "auto", "X: binary_data_size is 32, but 33 bytes follow the JSON"),
        (None, ROW_BYTES, "auto", "32 bytes follow the JSON, but X declares no binary_data_size"),
        (32, ROW_BYTES, "12x", f"{HEADER} '12x' is not a length within the body"),
        (32, ROW_BYTES, "-1", f"{HEADER} '-1' is not a length within the body"),
        (32, ROW_BYTES, "99999", "is not a length within the body"),
        (32, ROW_BYTES, "10", "the body is not valid JSON"),
    ],
)
def test_binary_sizes_that_do_not_add_up_are_a_400(client, declared, data, json_length, message):
    body, headers = _binary_body(declared, data, json_length)
    assert message in v2_error(client.post(INFER, data=body, headers=headers), 400)


def test_the_binary_data_is_read_little_endian_whatever_the_machine(client):
    body, headers = _binary_body(32, np.array(SETOSA, dtype=">f8").tobytes())
    # Big-endian 5.1 read little-endian is no length of a flower: refused, not guessed at.
    assert "outside the allowed range" in v2_error(
        client.post(INFER, data=body, headers=headers), 400
    )
    body, headers = _binary_body(32, ROW_BYTES)
    assert client.post(INFER, data=body, headers=headers).status_code == 200


def test_a_compressed_body_is_a_400_in_the_v2_shape(client):
    """/predict's 415 (app/content_encoding.py): the protocol answers 400 to any request
    the server cannot take."""
    headers = {"Content-Encoding": "gzip"}
    assert "not supported" in v2_error(client.post(INFER, data=b"{}", headers=headers), 400)


# ------------------------------------------------------------- the module, alone --


def test_decode_and_encode_need_no_flask(app):
    """app/v2_protocol.py works on bytes and a served model: no request, no app context."""
    served = get_store(app).current
    body, headers = binary_request(np.array([SETOSA, VIRGINICA]), request_id="x")
    request = v2_protocol.decode(body, headers[HEADER], served, max_batch=10)
    assert request.rows.tolist() == [SETOSA, VIRGINICA] and request.id == "x"
    assert request.outputs == tuple(
        v2_protocol.RequestedOutput(name, True) for name in ("label", "probabilities", "class_name")
    )
    with app.app_context():  # classify counts in the metrics; nothing else needs the app
        result = classify(served, request.rows)
    answer = v2_protocol.encode(request, served, result)
    parsed = triton.InferenceServerClient.parse_response_body(
        answer.body, header_length=answer.json_length
    )
    assert parsed.as_numpy("class_name").tolist() == [b"setosa", b"virginica"]
    assert parsed.get_response()["id"] == "x"


# ----------------------------------------- tritonclient on a real socket ------------


@pytest.fixture
def server_url(app):
    """The app served by werkzeug on a free port of the loopback: host:port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_tritonclient_speaks_to_the_app(server_url, client):
    with triton.InferenceServerClient(url=server_url) as tc:
        assert tc.is_server_live() and tc.is_server_ready()
        assert tc.is_model_ready(NAME) and tc.is_model_ready(NAME, "v1")
        assert not tc.is_model_ready(NAME, "v2") and not tc.is_model_ready("other")
        assert tc.get_server_metadata()["extensions"] == ["binary_tensor_data"]
        metadata = tc.get_model_metadata(NAME)
        assert metadata == client.get(f"/v2/models/{NAME}").get_json()
        assert tc.get_model_metadata(NAME, "v1") == metadata

        rows = np.array(ROWS, dtype=np.float64)
        expected = predicted(client, ROWS)
        labels = [p["class_index"] for p in expected]
        names = [p["class_name"].encode() for p in expected]
        probabilities = [[p["probabilities"][c] for c in CLASSES] for p in expected]

        # tritonclient's defaults: binary input, every output as binary.
        tensor = triton.InferInput("X", list(rows.shape), "FP64")
        tensor.set_data_from_numpy(rows)
        result = tc.infer(NAME, [tensor], request_id="t-1")
        assert result.get_response()["id"] == "t-1"
        assert result.get_response()["model_version"] == "v1"
        assert result.as_numpy("label").tolist() == labels
        assert result.as_numpy("class_name").tolist() == names
        assert result.as_numpy("probabilities").tolist() == probabilities

        # All JSON, both ways, on the versions path, asking for two outputs.
        tensor.set_data_from_numpy(rows, binary_data=False)
        outputs = [
            triton.InferRequestedOutput("class_name", binary_data=False),
            triton.InferRequestedOutput("label", binary_data=False),
        ]
        result = tc.infer(NAME, [tensor], model_version="v1", outputs=outputs)
        assert [o["name"] for o in result.get_response()["outputs"]] == ["class_name", "label"]
        assert result.as_numpy("label").tolist() == labels
        # BYTES as JSON data are strings (as binary they were bytes).
        assert result.as_numpy("class_name").tolist() == [name.decode() for name in names]
        assert result.as_numpy("probabilities") is None

        # FP32, binary.
        tensor32 = triton.InferInput("X", list(rows.shape), "FP32")
        tensor32.set_data_from_numpy(rows.astype(np.float32))
        assert tc.infer(NAME, [tensor32]).as_numpy("label").tolist() == labels

        # A bad value: tritonclient raises, with the server's message and status.
        bad = triton.InferInput("X", [1, 4], "FP64")
        bad.set_data_from_numpy(np.array([[5.1, 3.5, 1.4, 1000.0]]))
        with pytest.raises(InferenceServerException) as refused:
            tc.infer(NAME, [bad])
        assert refused.value.status() == "400"
        assert refused.value.message() == (
            "X row 0, petal_width: 1000.0 is outside the allowed range, 0 to 100 cm"
        )
        # A protocol fault: the input's name.
        wrong = triton.InferInput("input0", [1, 4], "FP64")
        wrong.set_data_from_numpy(np.array([SETOSA]))
        with pytest.raises(InferenceServerException) as refused:
            tc.infer(NAME, [wrong])
        assert refused.value.status() == "400"
        assert refused.value.message() == "unknown input 'input0'; the model's input is 'X'"
        # Another model, and a call this server does not serve.
        with pytest.raises(InferenceServerException) as refused:
            tc.infer("other", [tensor])
        assert refused.value.status() == "404"
        with pytest.raises(InferenceServerException) as refused:
            tc.get_model_config(NAME)
        assert "not part of this server's V2 API" in refused.value.message()
