"""Prometheus scrape endpoint."""

from __future__ import annotations

from flask import Blueprint, Response

from app import metrics

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics_route():
    """Expose the server's metrics in Prometheus text format."""
    return Response(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
