"""Every error is JSON: {"error": {"code", "message"}} with the right status, never HTML."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
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


class APIError(Exception):
    """An error the client can fix, with its HTTP status and a code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str):
    """The JSON error body and status."""
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
