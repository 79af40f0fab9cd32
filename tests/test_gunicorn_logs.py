"""gunicorn's own lines go out as JSON, through the app's formatter, like the app's.

Runs the real gunicorn with the serving image's config file (no Docker): master and
workers start, boot, answer and stop, and every line they write to stderr is one JSON
object.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from labctl.stack import free_port

ROOT = Path(__file__).resolve().parent.parent


def _answer(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_every_line_gunicorn_and_the_app_write_is_json(tmp_path):
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    env = {
        **os.environ,
        "PORT": str(port),
        "GUNICORN_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "MODEL_REGISTRY": str(tmp_path / "registry"),  # empty: serving waits for a model
        "MODEL_TRUSTED_KEYS": str(tmp_path / "keys"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "app/gunicorn_conf.py", "app:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    status = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and status is None and server.poll() is None:
            try:
                status = _answer(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    assert status == 503, err[-3000:]  # up, and saying no model is loaded yet
    lines = [line for line in err.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not JSON: {line!r}") from None
    assert out == ""
    by_logger = {}
    for record in records:
        assert {"ts", "level", "logger", "message"} <= set(record), record
        by_logger.setdefault(record["logger"], []).append(record["message"])
    gunicorn = " | ".join(by_logger.get("gunicorn.error", []))
    assert "Starting gunicorn" in gunicorn and "Listening at" in gunicorn, by_logger
    assert gunicorn.count("Booting worker with pid") == 2, by_logger
    assert "Shutting down: Master" in gunicorn, by_logger
    # The app's own lines are there too, in the same format (a request, the model wait).
    assert any(name.startswith("app.") for name in by_logger), by_logger
    # One line per request, the app's: gunicorn's access line would repeat it.
    assert by_logger.get("app.requests") == ["request"], by_logger
    assert "gunicorn.access" not in by_logger, by_logger
