"""The serving app with Flask's test client: routes, errors, reload, metrics, headers."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from app import create_app, metrics, model_store
from app.errors import is_v2
from app.inference import Runner
from app.logging_setup import JSONFormatter
from app.model_store import get_store
from app.security_headers import HEADERS
from app.settings import ServingSettings
from app.validation import FEATURE_MAX, FEATURE_MIN
from model_registry import load_pipeline, publish, set_latest
from model_registry.signing import trust
from model_registry.tensors import default_tensors
from tests.metrics_scrape import metric

NAME = "iris-classifier"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]
PLAIN = '{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = {"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0, "petal_width": 2.5}


@pytest.fixture
def model_log():
    """The records of the app.model logger during the test."""
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("app.model").addHandler(handler)
    yield records
    logging.getLogger("app.model").removeHandler(handler)


def error_of(response, status):
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert "Traceback" not in body["error"]["message"]
    return body["error"]


def test_default_factory_is_not_in_testing_mode(monkeypatch, registry, trusted_dir):
    monkeypatch.setenv("MODEL_REGISTRY", str(registry))
    monkeypatch.setenv("MODEL_TRUSTED_KEYS", str(trusted_dir))
    monkeypatch.setenv("MODEL_RELOAD_INTERVAL", "0")
    assert not create_app().testing
    assert get_store(create_app()).version == "v1"
    assert create_app({"reload_interval_s": 0}).testing


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_REGISTRY", str(tmp_path))
    monkeypatch.setenv("MAX_BATCH_SIZE", "7")
    monkeypatch.setenv("MODEL_RELOAD_INTERVAL", "0")
    monkeypatch.setenv("MODEL_TRUSTED_KEYS", str(tmp_path / "keys"))
    settings = create_app().config["SETTINGS"]
    assert (settings.registry, settings.max_batch) == (tmp_path, 7)
    assert settings.trusted_keys == tmp_path / "keys"


def test_the_trusted_keys_default_to_the_images_volume():
    assert ServingSettings.from_env({}).trusted_keys == Path("/trusted-keys")


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_names_the_model(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["model"] == {"name": NAME, "version": "v1", "runtime": "onnxruntime"}


def test_not_ready_before_a_model_exists_then_ready(tmp_path, registry, trusted_dir):
    empty = tmp_path / "empty"
    app = create_app({"registry": empty, "trusted_keys": trusted_dir, "reload_interval_s": 0})
    client = app.test_client()
    error = error_of(client.get("/readyz"), 503)
    assert error["code"] == "model_not_ready" and "no model published yet" in error["message"]
    assert error_of(client.post("/predict", json={"instances": [SETOSA]}), 503)
    assert error_of(client.get("/model"), 503)
    assert "No model loaded" in client.get("/").get_data(as_text=True)
    # Training publishes: the server becomes ready without a restart.
    store = get_store(app)
    store.registry = registry
    assert store.refresh() is True
    assert client.get("/readyz").status_code == 200


def test_predict_lists_and_named_features(client):
    response = client.post("/predict", json={"instances": [SETOSA, VIRGINICA]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model"] == {"name": NAME, "version": "v1"}
    first, second = body["predictions"]
    assert (first["class_name"], first["class_index"]) == ("setosa", 0)
    assert (second["class_name"], second["class_index"]) == ("virginica", 2)
    assert list(first["probabilities"]) == ["setosa", "versicolor", "virginica"]
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)


def test_predict_accepts_integers_and_the_largest_batch(client, app):
    batch = [[5, 3, 1, 0]] * app.config["SETTINGS"].max_batch
    response = client.post("/predict", json={"instances": batch})
    assert response.status_code == 200
    assert len(response.get_json()["predictions"]) == len(batch)


def test_predict_accepts_the_classic_form_fields(client):
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    form = dict(zip(names, map(str, SETOSA), strict=True))
    response = client.post("/predict", data=form)
    assert response.status_code == 200
    assert response.get_json()["predictions"][0]["class_name"] == "setosa"


def test_model_route_serves_the_registry_metadata(client, registry):
    metadata = json.loads((registry / NAME / "v1" / "metadata.json").read_text())
    assert client.get("/model").get_json() == metadata


JSON = "application/json"


def malformed(body: bytes, fragment: str) -> tuple:
    """A body that is not JSON we read: 400 malformed_json, its message holding fragment."""
    return (body, JSON, 400, "malformed_json", fragment)


def invalid(*instances: str, fragment: str, body: str = "") -> tuple:
    """JSON of the wrong shape or values: 422 invalid_instance. The body is
    {"instances": [...]} of the instances given (JSON text), unless body is given."""
    text = body or '{"instances": [' + ", ".join(instances) + "]}"
    return (text.encode(), JSON, 422, "invalid_instance", fragment)


# Named features, one object; a test adds or drops one.
NAMED = '"sepal_length": 1, "sepal_width": 1, "petal_length": 1, "petal_width": 1'


@pytest.mark.parametrize(
    ("body", "ctype", "status", "code", "fragment"),
    [
        malformed(b"{not json", "not valid JSON"),
        malformed(b"", "empty"),
        malformed(b"\xff\xfe\x00", "not UTF-8"),
        malformed(b"[" * 100_000 + b"]" * 100_000, "the JSON is nested too deeply"),
        malformed(PLAIN.encode("utf-16"), "not UTF-8"),
        malformed(PLAIN.encode("utf-16-le"), "not UTF-8"),
        malformed(PLAIN.encode("utf-16-be"), "not UTF-8"),
        malformed(PLAIN.encode("utf-32"), "not UTF-8"),
        malformed(PLAIN.encode("utf-8-sig"), "byte order mark"),
        malformed(
            b'{"instances": [[1,2,3,4]], "instances": [[5,6,7,8]]}', "duplicate key 'instances'"
        ),
        malformed(
            ('{"instances": [{' + NAMED + ', "sepal_width": 2}]}').encode(),
            "duplicate key 'sepal_width'",
        ),
        (b"5.1,3.5,1.4,0.2", "text/csv", 415, "unsupported_media_type", "text/csv"),
        (PLAIN.encode(), "", 415, "unsupported_media_type", "no Content-Type"),
        invalid("[1,2,3]", fragment="instance 0: expected 4 values"),
        invalid("[1,2,3,4]", "[1,2,3,4,5]", fragment="instance 1"),
        invalid('{"sepal_length": 1}', fragment="missing feature 'sepal_width'"),
        invalid(
            "{" + NAMED.removesuffix(', "petal_width": 1') + "}",
            fragment="missing feature 'petal_width'",
        ),
        invalid("{" + NAMED + ', "x": 1}', fragment="unknown feature 'x'"),
        invalid('["5.1", 3.5, 1.4, 0.2]', fragment="sepal_length: expected a number, got a string"),
        invalid("[true, 3.5, 1.4, 0.2]", fragment="got a boolean"),
        invalid("[null, 3.5, 1.4, 0.2]", fragment="got null"),
        invalid(
            "[5.1, NaN, 1.4, 0.2]", fragment="instance 0, sepal_width: must be a finite number"
        ),
        invalid("[5.1, 3.5, Infinity, 0.2]", fragment="petal_length: must be a finite"),
        invalid("[5.1, 3.5, 1.4, 1e400]", fragment="finite"),
        invalid(
            "[5.1, 3.5, 1.4, 1" + "0" * 400 + "]",
            fragment="instance 0, petal_width: 1" + "0" * 400 + " is out of range",
        ),
        invalid("[[1], 3.5, 1.4, 0.2]", fragment="got a list"),
        invalid('"abc"', fragment="instance 0: expected a list of 4 numbers"),
        invalid(fragment="empty"),
        invalid(body='{"instances": {"a": 1}}', fragment="must be a list"),
        invalid(body='{"rows": [[1,2,3,4]]}', fragment="unknown field 'rows'"),
        invalid(body='{"instances": [[1,2,3,4]], "extra": 1}', fragment="unknown field 'extra'"),
        invalid(body="[[1,2,3,4]]", fragment="must be an object"),
        invalid(body="42", fragment="must be an object"),
        invalid(
            "[1e308, 1e308, 1e308, 1e308]",
            fragment="instance 0, sepal_length: 1e+308 is outside the allowed range, 0 to 100 cm",
        ),
        invalid(
            "[5.1, 3.5, 1.4, 0.2]",
            "[1e200, 3.5, 1.4, 0.2]",
            fragment="instance 1, sepal_length: 1e+200 is outside",
        ),
        invalid(
            "[5.1, -0.5, 1.4, 0.2]",
            fragment="instance 0, sepal_width: -0.5 is outside the allowed range, 0 to 100 cm",
        ),
        invalid(
            '{"sepal_length": 5, "sepal_width": 3, "petal_length": 1, "petal_width": 100.5}',
            fragment="instance 0, petal_width: 100.5 is outside",
        ),
        invalid("[5.1, 3.5, 1.4, 1" + "0" * 300 + "]", fragment="petal_width: 1e+300 is outside"),
    ],
)
def test_bad_requests_get_a_json_error(client, body, ctype, status, code, fragment):
    assert fragment, "an empty fragment is in every message: name what the message must say"
    headers = {"Content-Type": ctype} if ctype else {}
    error = error_of(client.post("/predict", data=body, headers=headers), status)
    assert error["code"] == code
    assert fragment in error["message"]


def form_with(**fields: str) -> dict[str, str]:
    """A valid form (every feature "1") with these fields changed or added."""
    return {**dict.fromkeys(FEATURES, "1"), **fields}


@pytest.mark.parametrize(
    ("form", "fragment"),
    [
        ({"sepal_length": "5"}, "missing"),
        (form_with(sepal_length="x"), "not a number"),
        (form_with(sepal_length="1e999"), "finite"),
        (
            form_with(sepal_length="1e308"),
            "'sepal_length': 1e+308 is outside the allowed range, 0 to 100 cm",
        ),
        (form_with(petal_length="-1"), "'petal_length': -1.0 is outside"),
        (form_with(sepal_length="5_1"), "'sepal_length': '5_1' is not a number"),
        (form_with(sepal_length="\u0665.\u0661"), "is not a number"),
        (form_with(sepal_length="\uff15"), "is not a number"),
        (form_with(sepal_length="nan"), "is not a number"),
        (form_with(sepal_length="Infinity"), "is not a number"),
        (form_with(sepal_length="0x5"), "is not a number"),
        (form_with(sepal_length="\u20035"), "is not a number"),
        (form_with(z="1"), "unknown form field"),
    ],
)
def test_bad_form_fields_get_a_json_422(client, form, fragment):
    assert fragment, "an empty fragment is in every message: name what the message must say"
    assert fragment in error_of(client.post("/predict", data=form), 422)["message"]


@pytest.mark.parametrize("text", ["5", "+5.1", "5.", ".5", " 5.1 ", "5e-1", "0.51E+1", "-0"])
def test_plain_ascii_decimals_are_numbers(client, text):
    form = {**dict(zip(FEATURES, map(str, SETOSA), strict=True)), "sepal_length": text}
    assert client.post("/predict", data=form).status_code == 200


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "GZIP", "identity, gzip"])
def test_encoded_bodies_are_refused_with_415(client, encoding):
    headers = {"Content-Encoding": encoding}
    json_post = client.post(
        "/predict", data=PLAIN, content_type="application/json", headers=headers
    )
    error = error_of(json_post, 415)
    assert error["code"] == "unsupported_media_type" and "Content-Encoding" in error["message"]
    form = dict(zip(FEATURES, map(str, SETOSA), strict=True))
    error_of(client.post("/predict", data=form, headers=headers), 415)
    error_of(client.post("/", data=form, headers=headers), 415)


@pytest.mark.parametrize("encoding", ["identity", "Identity", ""])
def test_identity_content_encoding_is_fine(client, encoding):
    headers = {"Content-Encoding": encoding}
    response = client.post("/predict", data=PLAIN, content_type="application/json", headers=headers)
    assert response.status_code == 200


def test_options_gets_a_json_405_on_every_route(app, client):
    paths = {rule.rule.replace("<path:filename>", "style.css") for rule in app.url_map.iter_rules()}
    for path in paths:
        response = client.open(path, method="OPTIONS")
        if is_v2(path):  # the Open Inference Protocol's shape: {"error": "<message>"}
            assert response.status_code == 405 and isinstance(response.get_json()["error"], str)
        else:
            assert error_of(response, 405)["code"] == "method_not_allowed", path
        assert response.headers["Allow"] and "OPTIONS" not in response.headers["Allow"], path
    assert client.open("/predict", method="OPTIONS").headers["Allow"] == "POST"


def test_too_large_body_is_413(make_app):
    app = make_app(max_body_bytes=1024)
    body = json.dumps({"instances": [SETOSA] * 200})
    error = error_of(
        app.test_client().post("/predict", data=body, content_type="application/json"), 413
    )
    assert error["code"] == "payload_too_large"


def test_too_large_batch_is_413(make_app):
    app = make_app(max_batch=5)
    error = error_of(app.test_client().post("/predict", json={"instances": [SETOSA] * 6}), 413)
    assert error["code"] == "batch_too_large" and "limit is 5" in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/nope", 404, "not_found"),
        ("get", "/predict", 405, "method_not_allowed"),
        ("delete", "/model", 405, "method_not_allowed"),
        ("put", "/", 405, "method_not_allowed"),
    ],
)
def test_unknown_routes_and_methods_are_json(client, method, path, status, code):
    assert error_of(getattr(client, method)(path), status)["code"] == code


def test_an_unexpected_failure_is_a_json_500_without_traceback(client, app, monkeypatch):
    store = get_store(app)

    def boom(rows):
        raise RuntimeError("secret internal detail")

    broken = dataclasses.replace(store.current, runner=Runner("broken", boom))
    monkeypatch.setattr(store, "current", broken)
    error = error_of(client.post("/predict", json={"instances": [SETOSA]}), 500)
    assert error["code"] == "internal_error" and "secret" not in error["message"]


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz", "/model", "/metrics", "/nope"])
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    for name, value in HEADERS.items():
        assert response.headers[name] == value
    assert len(response.headers["X-Request-ID"]) >= 16


@pytest.mark.parametrize("path", ["/healthz", "/model", "/openapi.json", "/nope"])
def test_api_answers_are_kept_out_of_caches(client, path):
    """security_headers decides it for every JSON answer, errors included, and for V2's
    binary tensor data (tests/test_v2.py); the page is no API answer."""
    assert client.get(path).headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in client.get("/").headers


def test_request_id_is_echoed_when_safe_and_replaced_when_not(client):
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    for bad in ("a b c", "x" * 65, "<script>"):
        replaced = client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert replaced != bad and len(replaced) == 32


def test_one_json_log_line_per_request(client):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("app.requests")
    logger.addHandler(handler)
    try:
        response = client.post(
            "/predict", json={"instances": [SETOSA]}, headers={"X-Request-ID": "r1"}
        )
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 200
    assert len(records) == 1
    line = json.loads(JSONFormatter().format(records[0]))
    assert line["request_id"] == "r1" and line["status"] == 200 and line["route"] == "/predict"
    assert line["duration_ms"] >= 0 and line["level"] == "info"


def test_the_ends_of_the_range_are_accepted(client):
    low, high = FEATURE_MIN, FEATURE_MAX
    response = client.post(
        "/predict", json={"instances": [[low] * 4, [high] * 4, [0, 100, 0, 100]]}
    )
    assert response.status_code == 200, response.data
    for prediction in response.get_json()["predictions"]:
        assert all(math.isfinite(p) for p in prediction["probabilities"].values())


def test_out_of_range_instances_are_not_counted(client):
    label = 'serving_predictions_total{class_name="virginica"}'
    before = metric(client, label)
    error_of(client.post("/predict", json={"instances": [[1e200] * 4]}), 422)
    assert metric(client, label) == before


def _runner_answering(store, probabilities):
    """The served model, with a runner that answers `probabilities` for every row."""
    answer = np.asarray([probabilities])
    runner = Runner("fake", lambda rows: np.repeat(answer, len(rows), axis=0))
    return dataclasses.replace(store.current, runner=runner)


def test_a_non_finite_answer_is_never_sent_nor_counted(client, app, monkeypatch):
    store = get_store(app)
    monkeypatch.setattr(store, "current", _runner_answering(store, [np.nan, 0.5, 0.5]))
    before = [metric(client, f'serving_predictions_total{{class_name="{n}"}}') for n in CLASSES]
    error = error_of(client.post("/predict", json={"instances": [SETOSA]}), 422)
    assert error["code"] == "unanswerable_instance" and "instance 0" in error["message"]
    assert [
        metric(client, f'serving_predictions_total{{class_name="{n}"}}') for n in CLASSES
    ] == before
    page = client.post("/", data=dict(zip(FEATURES, map(str, SETOSA), strict=True)))
    assert page.status_code == 422 and 'id="result"' not in page.get_data(as_text=True)


def test_page_refuses_out_of_range_input_and_shows_the_range(client):
    html = client.get("/").get_data(as_text=True)
    assert f'min="{FEATURE_MIN:g}" max="{FEATURE_MAX:g}"' in html
    response = client.post("/", data=dict.fromkeys(FEATURES, "1e308"))
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and 'role="alert"' in text
    assert "outside the allowed range" in text and 'id="result"' not in text


def test_metrics_count_requests_predictions_and_version(client):
    label = 'serving_http_requests_total{method="POST",route="/predict",status="200"}'
    before = metric(client, label)
    setosa_before = metric(client, 'serving_predictions_total{class_name="setosa"}')
    client.post("/predict", json={"instances": [SETOSA, SETOSA]})
    assert metric(client, label) == before + 1
    assert metric(client, 'serving_predictions_total{class_name="setosa"}') == setosa_before + 2
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'serving_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/predict"}'
        in text
    )
    assert "serving_model_load_failures_total" in text
    assert metric(client, 'serving_model_info{runtime="onnxruntime",version="v1"}') == 1


def test_every_class_is_exposed_before_any_prediction(registry, trusted_dir):
    metrics.PREDICTIONS.clear()
    app = create_app({"registry": registry, "trusted_keys": trusted_dir, "reload_interval_s": 0})
    try:
        client = app.test_client()
        for name in ("setosa", "versicolor", "virginica"):
            assert f'serving_predictions_total{{class_name="{name}"}} 0.0' in client.get(
                "/metrics"
            ).get_data(as_text=True)
    finally:
        get_store(app).stop()


def test_served_answers_are_the_signed_pipelines(registry, client, trusted):
    """Serving runs the graph only; it answers as the pickled Pipeline of the version does."""
    pipeline = load_pipeline(registry, NAME, trusted=trusted)
    rows = [SETOSA, list(VIRGINICA.values()), [FEATURE_MIN] * 4, [FEATURE_MAX] * 4]
    served = client.post("/predict", json={"instances": rows}).get_json()["predictions"]
    expected = pipeline.predict_proba(np.array(rows))
    for answer, probabilities in zip(served, expected, strict=True):
        assert answer["class_index"] == int(np.argmax(probabilities))
        assert list(answer["probabilities"].values()) == pytest.approx(probabilities, abs=1e-9)


@pytest.mark.parametrize("runtime", ["sklearn", "auto", "tensorflow"])
def test_no_setting_brings_the_pickle_back(monkeypatch, registry, trusted_dir, runtime):
    """MODEL_RUNTIME is gone: whatever it says, serving runs ONNX Runtime."""
    monkeypatch.setenv("MODEL_REGISTRY", str(registry))
    monkeypatch.setenv("MODEL_TRUSTED_KEYS", str(trusted_dir))
    monkeypatch.setenv("MODEL_RELOAD_INTERVAL", "0")
    monkeypatch.setenv("MODEL_RUNTIME", runtime)
    app = create_app()
    assert app.test_client().get("/readyz").get_json()["model"]["runtime"] == "onnxruntime"


def test_hot_reload_swaps_in_a_new_version(registry, publish_next, trusted_dir):
    app = create_app({"registry": registry, "trusted_keys": trusted_dir, "reload_interval_s": 0.05})
    client = app.test_client()
    try:
        assert client.get("/model").get_json()["version"] == "v1"
        publish_next()
        deadline = time.monotonic() + 10
        while client.get("/model").get_json()["version"] != "v2" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/model").get_json()["version"] == "v2"
        answer = client.post("/predict", json={"instances": [SETOSA]}).get_json()
        assert answer["model"]["version"] == "v2"
    finally:
        get_store(app).stop()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("tampered model.onnx", "sha256 of model.onnx"),
        ("unsigned", "v2 is not signed (no signature.json)"),
        ("signed by an untrusted key", "which is not trusted"),
    ],
)
def test_a_bad_new_version_is_refused_and_the_old_one_keeps_serving(
    app, client, publish_next, untrusted_key, model_log, damage, reason
):
    failures = metrics.MODEL_LOAD_FAILURES._value.get()
    if damage == "signed by an untrusted key":
        publish_next(key=untrusted_key)
    else:
        published = publish_next()
        if damage == "unsigned":
            (published.path / "signature.json").unlink()
        else:
            with open(published.path / "model.onnx", "ab") as handle:
                handle.write(b"evil")
    store = get_store(app)
    assert store.refresh() is False
    assert store.refresh() is False  # refused once, not retried and re-counted every poll
    assert client.get("/model").get_json()["version"] == "v1"
    assert client.post("/predict", json={"instances": [SETOSA]}).status_code == 200
    assert metrics.MODEL_LOAD_FAILURES._value.get() == failures + 1
    assert [r.getMessage() for r in model_log] == ["model refused"]
    assert reason in model_log[0].reason and model_log[0].serving == "v1"


def test_a_refused_latest_is_a_state_until_latest_names_a_served_version(
    app, publish_next, registry, trusted
):
    """The counter counts the refusal once; the gauge stays at 1 for as long as LATEST
    names the refused version (an alert on it cannot clear by itself), then drops."""
    store = get_store(app)
    assert metrics.LATEST_REFUSED._value.get() == 0
    published = publish_next()
    with open(published.path / "model.onnx", "ab") as handle:
        handle.write(b"evil")
    failures = metrics.MODEL_LOAD_FAILURES._value.get()
    for _ in range(3):
        assert store.refresh() is False
        assert metrics.LATEST_REFUSED._value.get() == 1
    assert metrics.MODEL_LOAD_FAILURES._value.get() == failures + 1
    set_latest(registry, NAME, "v1", trusted=trusted)
    assert store.refresh() is False and store.version == "v1"
    assert metrics.LATEST_REFUSED._value.get() == 0


def test_a_tampered_pickle_does_not_stop_serving_the_signed_graph(app, publish_next):
    """Serving never reads model.joblib: what it runs (metadata + graph) is intact."""
    published = publish_next()
    with open(published.path / "model.joblib", "ab") as handle:
        handle.write(b"evil")
    store = get_store(app)
    assert store.refresh() is True and store.version == "v2"


def test_without_its_trusted_keys_serving_loads_nothing(make_app, tmp_path, model_log):
    failures = metrics.MODEL_LOAD_FAILURES._value.get()
    app = make_app(trusted_keys=tmp_path / "no-keys")
    error = error_of(app.test_client().get("/readyz"), 503)
    assert error["code"] == "model_not_ready"
    assert "cannot read the trusted keys" in error["message"]
    assert metrics.MODEL_LOAD_FAILURES._value.get() == failures + 1
    assert [r.getMessage() for r in model_log] == ["model refused"]


def test_a_signed_graph_that_disagrees_with_its_metadata_is_refused(
    app, tmp_path, trained, fields, onnx_graph, signing_key, model_log
):
    """Signed is not enough: the graph must answer as many classes as the metadata names."""
    fields["signature"]["outputs"] = ["setosa", "versicolor"]
    fields["signature"]["tensors"] = default_tensors(4, 2)  # signed, but not the graph's
    publish(tmp_path, NAME, trained[0], fields, onnx_model=onnx_graph, signing_key=signing_key)
    store = get_store(app)
    assert store.refresh() is False and store.version == "v1"
    assert model_log[0].reason.endswith(
        "the graph has X FP64 [-1, 4] -> label INT64 [-1], probabilities FP64 [-1, 3]; "
        "its signature says X FP64 [-1, 4] -> label INT64 [-1], probabilities FP64 [-1, 2]"
    )


def test_a_version_refused_for_its_key_loads_once_the_key_is_trusted(
    app, publish_next, untrusted_key, trusted_dir, tmp_path
):
    # Serving's own copy of the trusted keys, where the rotated key arrives late.
    served_keys = tmp_path / "served-keys"
    shutil.copytree(trusted_dir, served_keys)
    store = get_store(app)
    store.trusted_keys = served_keys
    publish_next(key=untrusted_key)
    assert store.refresh() is False and store.version == "v1"
    trust(untrusted_key.public, served_keys)
    assert store.refresh() is True
    assert store.version == "v2"


def test_page_shows_the_form_with_examples(client):
    html = client.get("/").get_data(as_text=True)
    assert '<form method="post"' in html and 'value="6.0"' in html
    assert "version <strong>v1</strong>" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_page_classifies_and_shows_the_picture(client):
    response = client.post("/", data={k: str(v) for k, v in VIRGINICA.items()})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<span id="species">virginica</span>' in html
    assert 'src="/static/img/virginica.svg"' in html
    assert client.get("/static/img/virginica.svg").status_code == 200


class SwappingStore:
    """A model store that has swapped to the other version at every read of `current`."""

    not_ready_reason = ""

    def __init__(self, *versions):
        self._versions = itertools.cycle(versions)

    @property
    def current(self):
        return next(self._versions)


def test_page_names_one_version_even_during_a_swap(app, client, monkeypatch):
    v1 = get_store(app).current
    v2 = dataclasses.replace(v1, loaded=dataclasses.replace(v1.loaded, version="v2"))
    monkeypatch.setitem(app.extensions, model_store.EXTENSION, SwappingStore(v1, v2))
    for _ in range(2):  # starting on either version
        html = client.post("/", data={k: str(v) for k, v in VIRGINICA.items()}).get_data(
            as_text=True
        )
        header = re.search(r"version <strong>(v\d+)</strong>", html).group(1)
        answer = re.search(r'id="answer-version">(v\d+)<', html).group(1)
        assert header == answer


def test_page_explains_bad_input(client):
    response = client.post("/", data={"sepal_length": "abc"})
    assert response.status_code == 422
    assert 'role="alert"' in response.get_data(as_text=True)
