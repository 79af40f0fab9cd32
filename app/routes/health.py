"""Liveness and readiness probes."""

from __future__ import annotations

import socket

from flask import Blueprint, jsonify

from app.errors import error_response
from app.model_store import get_store

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Readiness: a verified model is loaded (503 with the reason until then)."""
    store = get_store()
    served = store.current
    if served is None:
        return error_response(503, "model_not_ready", store.not_ready_reason)
    return jsonify(
        status="ready",
        model={"name": served.name, "version": served.version, "runtime": served.runtime},
        # Which replica answered (the container's hostname): tells replicas apart.
        instance=socket.gethostname(),
    )
