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

# Every name carries the application's prefix (prometheus.io's naming guide), so the
# series of this server never mix with another exporter's http_requests_total.
PREFIX = "serving_"

REQUESTS = Counter(
    f"{PREFIX}http_requests_total", "HTTP requests answered.", ["route", "method", "status"]
)
LATENCY = Histogram(
    f"{PREFIX}http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PREDICTIONS = Counter(
    f"{PREFIX}predictions_total", "Instances classified, by class.", ["class_name"]
)
# 1 for the version each worker serves (0 for the one it served before). Under gunicorn
# every live worker has its own series (a pid label, "liveall"): a swap is complete when
# every worker reports the new version, which is what `inv train` and the tests wait for;
# `max by (version) (serving_model_info)` is the server's view.
MODEL_INFO = Gauge(
    f"{PREFIX}model_info",
    "1 for the model version a worker serves, and the runtime computing its answers.",
    ["version", "runtime"],
    multiprocess_mode="liveall",
)
MODEL_LOAD_FAILURES = Counter(
    f"{PREFIX}model_load_failures_total",
    "Model version loads refused, per worker (unsigned, bad checksum, unreadable, ...).",
)
# The state beside that event: a refused version is not examined again, so the counter
# stays flat while LATEST still names it. 1 while a worker keeps serving an older
# version because it refused the one LATEST names; back to 0 once LATEST names a version
# it serves. `max` over workers is the server's answer.
LATEST_REFUSED = Gauge(
    f"{PREFIX}model_latest_refused",
    "1 while the version LATEST names is one this worker refused.",
    multiprocess_mode="livemax",
)

if TYPE_CHECKING:
    from app.model_store import ServedModel

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Every label value comes from a fixed set. Each new value is a new series, and in
# multi-process mode a new record in the workers' files on a tmpfs: a client that
# invents methods or paths must not be able to fill it.
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
OTHER_METHOD = "other"
UNMATCHED_ROUTE = "unmatched"


def method_label(method: str) -> str:
    """The request method as a label: a standard method, else "other"."""
    return method if method in METHODS else OTHER_METHOD


def route_label(url_rule) -> str:
    """The route as a label: the URL rule that matched (never the raw path)."""
    return url_rule.rule if url_rule is not None else UNMATCHED_ROUTE


def request_answered(url_rule, method: str, status: int, elapsed_s: float) -> None:
    """Count one answered request and its latency, under bounded labels."""
    route, method = route_label(url_rule), method_label(method)
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(elapsed_s)


def model_swapped(previous: ServedModel | None, current: ServedModel) -> None:
    """Record that `current` replaced `previous` in this process."""
    if previous:
        MODEL_INFO.labels(version=previous.version, runtime=previous.runtime).set(0)
    MODEL_INFO.labels(version=current.version, runtime=current.runtime).set(1)
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
