"""Every error is JSON with the right status, never HTML: the API's {"error": {"code",
"message"}}, and under /v2 the Open Inference Protocol's {"error": "<message>"}.

One place picks the shape, by the request's path, so an error raised anywhere (a route,
the Content-Encoding check, werkzeug's routing, a crash) answers as the API asked speaks.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("app.errors")

# Machine-readable codes of the HTTP errors werkzeug raises.
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_instance",
    503: "model_not_ready",
}
# Where the Open Inference Protocol (V2) is served (app/routes/v2.py).
V2_PREFIX = "/v2"
# The protocol's statuses where the API's differ: its REST specification, and Triton,
# answer 400 to any request the server cannot take, a value out of range (422 here) or
# a Content-Encoding it does not read (415) included. 404, 405, 413 and 503 stay.
V2_STATUSES = {415: 400, 422: 400}


class APIError(Exception):
    """An error the client can fix, with its HTTP status and a code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def is_v2(path: str) -> bool:
    """Whether path is the Open Inference Protocol's: /v2 or anything under /v2/ (after
    the leading slashes, as werkzeug's routing reads a path: "//v2/..." is served there)."""
    path = "/" + path.lstrip("/")
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")


def error_response(status: int, code: str, message: str):
    """The JSON error body and status, in the shape of the API the request's path is."""
    if is_v2(request.path):
        return jsonify(error=message), V2_STATUSES.get(status, status)
    return jsonify(error={"code": code, "message": message}), status


def register(app: Flask) -> None:
    """Turn APIError, werkzeug's HTTP errors and anything unexpected into JSON."""

    @app.errorhandler(APIError)
    def _api_error(exc: APIError):
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        response = error_response(status, HTTP_CODES.get(status, "http_error"), exc.description)
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response[0].headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error", extra={"event": "unhandled_error"})
        return error_response(500, "internal_error", "internal error; see the server log")
