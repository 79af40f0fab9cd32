"""Per request: a request id (echoed as X-Request-ID), metrics, and one JSON log line."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request

from app import metrics

log = logging.getLogger("app.requests")

REQUEST_ID_HEADER = "X-Request-ID"
# A client-supplied id is kept only when it is short and plain (it goes into logs).
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def register(app: Flask) -> None:
    """Attach the before/after hooks to the app."""
    log_requests = app.config["SETTINGS"].log_requests

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.request_answered(request.url_rule, request.method, response.status_code, elapsed)
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers[REQUEST_ID_HEADER] = request_id
        if log_requests:
            log.info(
                "request",
                extra={
                    "event": "request",
                    "request_id": request_id,
                    "method": request.method,
                    "path": request.path,
                    "route": metrics.route_label(request.url_rule),
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 3),
                    "bytes": response.calculate_content_length(),
                },
            )
        return response
