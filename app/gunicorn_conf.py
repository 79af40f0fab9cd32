"""gunicorn settings of the serving container (every value can be overridden by env).

gunicorn's master runs this file before any of the app is loaded: it imports only the
standard library, gunicorn's own logger, envvars and app.logging_setup (standard library
only, both).
"""

import os
import shutil

from gunicorn.glogging import Logger

from app.logging_setup import gunicorn_logconfig
from envvars import Variable, read

# Every variable this file reads, its default and meaning, in one place; `.env.example`
# lists them (labctl/env_example.py).
VARIABLES = (
    Variable("PORT", "8080", "port gunicorn listens on, on every interface of the container"),
    Variable("GUNICORN_WORKERS", "2", "worker processes, one request each at a time"),
    Variable("GUNICORN_TIMEOUT", "30", "seconds a request may take before its worker is replaced"),
    Variable("GUNICORN_GRACEFUL_TIMEOUT", "20", "seconds to finish in-flight requests on SIGTERM"),
    Variable(
        "GUNICORN_LOGLEVEL", "info", "gunicorn's own log level (the app logs requests as JSON)"
    ),
    Variable(
        "PROMETHEUS_MULTIPROC_DIR",
        "",
        "folder the workers' metrics files are summed in, emptied at start "
        "(serving.Dockerfile: /tmp/metrics; empty: one process's metrics only)",
    ),
)
_BY_NAME = {variable.name: variable for variable in VARIABLES}


def _env(name):
    return read(_BY_NAME[name])


# Listen on every interface of the container; Compose publishes the port.
bind = f"0.0.0.0:{_env('PORT')}"
# Sync workers, as gunicorn recommends behind a buffering proxy: nginx has read every
# request whole, so a worker never waits on a client. A sync worker takes the next
# connection only when it is free and closes it after one answer, so the kernel's accept
# queue hands each request to whichever worker is idle. With threads and keep-alive
# (gthread), a connection stays with the worker that accepted it: when the connections
# happened to land on one worker, throughput halved while the other idled
# (`inv bench`'s stability rows measure both). Two processes for serving's 1.5 CPUs;
# one process per request also gives the shortest tail (no GIL shared between threads).
workers = int(_env("GUNICORN_WORKERS"))
worker_class = "sync"
# The root filesystem is read-only: heartbeat files go to shared memory (gunicorn FAQ).
worker_tmp_dir = "/dev/shm"  # noqa: S108 - a tmpfs in every container; see gunicorn FAQ
# A request that takes longer than this is a stuck worker: kill and replace it.
timeout = int(_env("GUNICORN_TIMEOUT"))
# On SIGTERM, finish in-flight requests for up to this long before exiting.
graceful_timeout = int(_env("GUNICORN_GRACEFUL_TIMEOUT"))
# Bound what a client can send in the request line and headers. nginx in front is
# stricter on every one (proxy/nginx.conf: 2 KiB a line, 8 KiB in all, so at most
# ~1,600 headers), so a client never meets these limits, nor gunicorn's HTML error
# pages: they guard a server reached some other way.
limit_request_line = 4094
limit_request_fields = 2000
limit_request_field_size = 8190
# No gunicornc control socket (gunicorn >= 25): nothing uses it, and its default
# place ($HOME) does not exist on a read-only root filesystem.
control_socket_disable = True
errorlog = "-"
loglevel = _env("GUNICORN_LOGLEVEL")
# gunicorn's own lines ("Booting worker", "Worker timeout", ...) as JSON, through the
# app's formatter: one format on stderr (app/logging_setup.py).
logconfig_dict = gunicorn_logconfig(loglevel)


class NoAccessLogger(Logger):
    """gunicorn's logger with no access line: the app logs every request as JSON with its
    request id (app/request_log.py), and gunicorn's line would repeat it. `accesslog =
    None` is not enough once logconfig_dict is set: gunicorn then builds the line's
    fields for every request (measured: ~5% of a worker's time under load) and logs it."""

    @property
    def access_log_enabled(self):
        return False


logger_class = NoAccessLogger
# Each worker loads and watches the model itself (no preload: its watcher thread would
# not survive the fork).
preload_app = False


def on_starting(server):
    """Start the multi-process metrics from an empty directory (stale files would count)."""
    directory = _env("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, mode=0o700, exist_ok=True)


def child_exit(server, worker):
    """Forget a dead worker's live gauges in the multi-process metrics."""
    # Imported here, not at the top: importing app.metrics in the master would create
    # its metric files before on_starting has made the directory.
    from app import metrics

    metrics.worker_exited(worker.pid)
