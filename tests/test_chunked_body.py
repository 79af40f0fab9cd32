"""A chunked body (no Content-Length) larger than the limit gets 413, never a cut body."""

from __future__ import annotations

import io
import json

import pytest

from app import create_app
from app.model_store import get_store

ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def client(tmp_path):
    # No model is needed: the body is refused (or accepted) before the model is asked.
    app = create_app({"registry": tmp_path, "reload_interval_s": 0, "max_body_bytes": 4096})
    yield app.test_client()
    get_store(app).stop()


def _chunked(client, body: bytes, ctype: str):
    """POST body the way gunicorn hands over a chunked request: no Content-Length, and a
    stream that ends (wsgi.input_terminated)."""
    return client.post(
        "/predict",
        input_stream=io.BytesIO(body),
        content_type=ctype,
        environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
    )


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        # Valid JSON once cut at 4 KiB? Padding makes the cut land inside the whitespace.
        (json.dumps({"instances": [ROW]}).encode() + b" " * 8000, "application/json"),
        (b"sepal_length=5.1&" + b"x=" + b"1" * 8000, "application/x-www-form-urlencoded"),
    ],
)
def test_a_chunked_body_over_the_limit_is_413(client, body, ctype):
    response = _chunked(client, body, ctype)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_a_chunked_body_under_the_limit_is_read_whole(client):
    body = json.dumps({"instances": [ROW]}).encode() + b" " * 3000
    response = _chunked(client, body, "application/json")
    # Read whole, parsed, then refused only because this app has no model.
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_not_ready"
