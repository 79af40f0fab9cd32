"""The Open Inference Protocol (V2) beside /predict: health, metadata and inference.

What KServe's and Triton's clients (tritonclient, kserve) speak: the same model, the
same validation and the same counted predictions as /predict, in the protocol's
shapes (app/v2_protocol.py). Errors are raised as everywhere else: app/errors.py answers
them under /v2 in the protocol's {"error": "<message>"} and with its statuses.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import PathConverter

from app import v2_protocol
from app.errors import V2_PREFIX, APIError
from app.model_store import ServedModel, get_store
from app.prediction import classify
from app.routes.api import served_model, whole_body

bp = Blueprint("v2", __name__, url_prefix=V2_PREFIX)


class RestOfPath(PathConverter):
    """Whatever follows /v2/, newlines included: werkzeug's path converter stops at one
    (the "." of its regex), so such a path missed the catch-all below and got the API's
    404 shape, not the protocol's (found by schemathesis, tests/test_openapi.py)."""

    regex = r"[^/][\s\S]*?"


# On the app before the routes below are added: a blueprint's deferred set-up runs in
# the order it was recorded.
bp.record_once(lambda state: state.app.url_map.converters.setdefault("rest", RestOfPath))


@bp.get("")
def server_metadata():
    """The server's name, version and the protocol extensions it speaks."""
    return jsonify(v2_protocol.server_metadata(current_app.config["SETTINGS"].server_version))


@bp.get("/health/live")
def server_live():
    """Liveness: the process answers."""
    return jsonify(live=True)


@bp.get("/health/ready")
def server_ready():
    """Readiness: a verified model is loaded (503 with the reason until then)."""
    served_model()
    return jsonify(ready=True)


@bp.get("/models/<name>")
@bp.get("/models/<name>/versions/<version>")
def model_metadata(name: str, version: str | None = None):
    """The model's name, served version, platform and typed input and output tensors."""
    return jsonify(v2_protocol.model_metadata(named_model(name, version)))


@bp.get("/models/<name>/ready")
@bp.get("/models/<name>/versions/<version>/ready")
def model_ready(name: str, version: str | None = None):
    """Readiness of the model: 200 once it is loaded, 503 with the reason until then."""
    served = named_model(name, version)
    return jsonify(name=served.name, ready=True)


@bp.post("/models/<name>/infer")
@bp.post("/models/<name>/versions/<version>/infer")
def infer(name: str, version: str | None = None):
    """Classify the rows of the input tensor; answer the outputs asked for."""
    served = named_model(name, version)  # read once: a swap never changes it mid-request
    settings = current_app.config["SETTINGS"]
    body = whole_body(settings.max_body_bytes)
    header_length = request.headers.get(v2_protocol.HEADER_LENGTH)
    wanted = v2_protocol.decode(body, header_length, served, settings.max_batch)
    answer = v2_protocol.encode(wanted, served, classify(served, wanted.rows))
    if answer.json_length is None:
        return current_app.response_class(answer.body, mimetype="application/json")
    # JSON then binary tensor data: the header says where one ends, as the extension asks.
    response = current_app.response_class(answer.body, mimetype="application/octet-stream")
    response.headers[v2_protocol.HEADER_LENGTH] = str(answer.json_length)
    return response


@bp.route("/<rest:rest>", methods=["GET", "POST"])
def elsewhere(rest: str):
    """Any other path under /v2 (the model repository, shared memory, statistics, ...):
    a 404, or a 405 where another method would answer."""
    allowed = methods_elsewhere(request.path)
    if allowed:
        raise MethodNotAllowed(allowed, f"{request.method} is not allowed here; use {allowed[0]}")
    raise APIError(
        404,
        "not_found",
        f"{V2_PREFIX}/{rest[:80]} is not part of this server's V2 API: it serves health, "
        "metadata and inference (with binary tensor data)",
    )


def methods_elsewhere(path: str) -> list[str]:
    """The methods another V2 route takes at this path (this catch-all takes GET and
    POST everywhere, so werkzeug's own 405 never comes for those two)."""
    adapter = current_app.create_url_adapter(request)
    allowed = []
    for method in ("GET", "POST"):
        try:
            endpoint, _ = adapter.match(path, method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            allowed.append(method)
    return allowed


def named_model(name: str, version: str | None = None) -> ServedModel:
    """The model a V2 path names, read once: 404 for another name or version, 503 until
    a verified model is loaded."""
    served_name = get_store().name
    if name != served_name:
        raise APIError(
            404, "not_found", f"unknown model {name[:80]!r}; this server serves {served_name!r}"
        )
    served = served_model()
    if version is not None and version != served.version:
        raise APIError(
            404,
            "not_found",
            f"{name} version {version[:80]!r} is not served; "
            f"the served version is {served.version}",
        )
    return served
