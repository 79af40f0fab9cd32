"""gunicorn settings of the serving container (every value can be overridden by env)."""

import os
import shutil

# Listen on every interface of the container; Compose publishes the port.
bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
# Workers x threads sized for the container's CPU limit (2 processes for 1.5 CPUs).
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# The root filesystem is read-only: heartbeat files go to shared memory (gunicorn FAQ).
worker_tmp_dir = "/dev/shm"  # noqa: S108 - a tmpfs in every container; see gunicorn FAQ
# A request that takes longer than this is a stuck worker: kill and replace it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM, finish in-flight requests for up to this long before exiting.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
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
# The app logs every request as JSON; gunicorn's own access log would repeat it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# Each worker loads and watches the model itself (no preload: threads do not survive fork).
preload_app = False


def on_starting(server):
    """Start the multi-process metrics from an empty directory (stale files would count)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, mode=0o700, exist_ok=True)


def child_exit(server, worker):
    """Forget a dead worker's live gauges in the multi-process metrics."""
    # Imported here, not at the top: importing app.metrics in the master would create
    # its metric files before on_starting has made the directory.
    from app import metrics

    metrics.worker_exited(worker.pid)
