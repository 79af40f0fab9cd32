"""Prometheus metrics: requests, latency, predictions, the model served, load failures.

Under gunicorn every worker is a process; with PROMETHEUS_MULTIPROC_DIR set (the
serving image sets it to a tmpfs) prometheus_client sums the workers' values, so
/metrics answers for the whole server whichever worker serves it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["route", "method", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PREDICTIONS = Counter("predictions_total", "Instances classified, by class.", ["class_name"])
MODEL_INFO = Gauge(
    "model_info",
    "1 for the model version being served, and the runtime computing its answers.",
    ["version", "runtime"],
    multiprocess_mode="livemax",
)
MODEL_VERSION = Gauge(
    "model_version",
    "Number of the model version being served (v3 -> 3).",
    multiprocess_mode="livemax",
)
MODEL_LOAD_FAILURES = Counter(
    "model_load_failures_total", "Model versions refused (bad checksum, unreadable, ...)."
)

if TYPE_CHECKING:
    from app.model_store import ServedModel

CONTENT_TYPE = CONTENT_TYPE_LATEST


def model_swapped(previous: ServedModel | None, current: ServedModel) -> None:
    """Record that `current` replaced `previous` in this process."""
    if previous:
        MODEL_INFO.labels(version=previous.version, runtime=previous.runtime).set(0)
    MODEL_INFO.labels(version=current.version, runtime=current.runtime).set(1)
    MODEL_VERSION.set(int(current.version[1:]))
    # Every class's series exists from the start, at 0: a replica that has not yet
    # predicted a class still exposes it (a missing series is not a zero to PromQL).
    for class_name in current.class_names:
        PREDICTIONS.labels(class_name=class_name)


def exposition() -> bytes:
    """The metrics in Prometheus text format, summed over every worker when multi-process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


def worker_exited(pid: int) -> None:
    """gunicorn child_exit hook: drop a dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
