"""The prediction API: POST /predict and GET /model."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from app.errors import APIError
from app.model_store import ServedModel, get_store
from app.prediction import predict
from app.validation import (
    FORM_TYPES,
    JSON_TYPES,
    instance_from_form,
    instances_from_json,
    parse_json_body,
)

bp = Blueprint("api", __name__)


def served_model() -> ServedModel:
    """The model to answer with, or a 503 saying why there is none yet."""
    store = get_store()
    served = store.current
    if served is None:
        raise APIError(503, "model_not_ready", store.not_ready_reason)
    return served


def whole_body(limit: int) -> bytes:
    """The request body, whole, or a 413 when it is larger than limit.

    werkzeug refuses a Content-Length above MAX_CONTENT_LENGTH, but cuts a chunked body
    (gunicorn passes those on) silently at it: one byte read past the cut tells.
    """
    data = request.get_data(cache=True)
    chunked = not request.content_length
    if chunked and len(data) >= limit and request.environ["wsgi.input"].read(1):
        raise APIError(
            413, "payload_too_large", f"the request body is larger than {limit // 1024} KiB"
        )
    return data


@bp.post("/predict")
def predict_route():
    """Classify one or more iris flowers (JSON instances, or the classic form fields)."""
    settings = current_app.config["SETTINGS"]
    mimetype = request.mimetype
    body = whole_body(settings.max_body_bytes)
    if mimetype in JSON_TYPES:
        payload = parse_json_body(body)
        served = served_model()
        rows = instances_from_json(payload, served.feature_names, settings.max_batch)
    elif mimetype in FORM_TYPES:
        served = served_model()
        rows = instance_from_form(request.form, served.feature_names)
    else:
        raise APIError(
            415,
            "unsupported_media_type",
            f"send application/json (or form fields), not {mimetype or 'no Content-Type'}",
        )
    return jsonify(predict(served, rows))


@bp.get("/model")
def model_route():
    """Describe the model being served: its registry metadata."""
    return jsonify(served_model().loaded.metadata)
