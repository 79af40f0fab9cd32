"""Where a serving worker's time goes under load: py-spy samples one gunicorn worker
from outside its container (read-only: it attaches, never changes the process) while the
bench loads the stack, and each sample is put in one part of the request path."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from labctl.settings import venv_tool

# The parts of a request's path, in the order a sample is tested against them: a sample
# belongs to the first part one of its frames names, from the innermost frame out, so
# ONNX Runtime called by the route counts as the model, JSON parsed in validation as
# validation, and what is left in gunicorn as gunicorn.
PARTS = (
    ("model (ONNX Runtime)", ("onnxruntime/", "app/inference.py")),
    ("closing the connection (waiting for the proxy's FIN)", ("close_graceful (",)),
    ("request log (JSON line to stderr)", ("logging/", "app/logging_setup.py", "glogging.py")),
    ("metrics (prometheus_client)", ("prometheus_client/", "app/metrics.py")),
    ("input validation", ("app/validation.py",)),
    ("socket reads and writes", ("gunicorn/util.py", "socket.py")),
    ("HTTP parsing (gunicorn)", ("gunicorn/http/",)),
    ("Flask and Werkzeug", ("flask/", "werkzeug/")),
    ("the app's other code", ("app/",)),
    ("gunicorn's worker loop", ("gunicorn/",)),
)
OTHER = "other"
# Samples a second: py-spy's rate, which turns a part's samples into seconds.
RATE_HZ = 200


def part_of(stack: str) -> str:
    """The part of the request path one sampled stack (py-spy's raw format) is in."""
    for frame in reversed(stack.split(";")):
        for part, markers in PARTS:
            if any(marker in frame for marker in markers):
                return part
    return OTHER


def summarize(raw: str) -> dict:
    """Share of the worker's samples per part; background threads left out."""
    parts: Counter = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit() or "Thread._bootstrap" in stack:
            continue  # the model watcher and other background threads
        parts[part_of(stack)] += int(count)
    total = sum(parts.values())
    shares = {part: round(100 * n / total, 1) for part, n in parts.most_common()} if total else {}
    return {"samples": total, "percent": shares}


def record(pid: int, seconds: float) -> dict:
    """Sample one process for `seconds` with py-spy; its summary, or why there is none."""
    duration = max(1, round(seconds))
    spy = shutil.which(venv_tool("py-spy"))
    if spy is None:
        return {"skipped": "py-spy is not installed (the test extra installs it)"}
    with tempfile.TemporaryDirectory(prefix="labs-profile-") as folder:
        out = Path(folder) / "raw.txt"
        command = [spy, "record", "--pid", str(pid), "--duration", str(duration)]
        command += [
            "--rate",
            str(RATE_HZ),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out),
        ]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=duration + 60
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return {"skipped": f"py-spy could not sample the worker: {exc}"}
        if result.returncode != 0 or not out.is_file():
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            return {"skipped": f"py-spy could not sample the worker: {last}"}
        return {**summarize(out.read_text()), "seconds": duration, "rate_hz": RATE_HZ}


def per_request_ms(profile: dict, workers: int) -> dict[str, float]:
    """The sampled worker's milliseconds per request in each part: a part's samples are
    rate_hz a second of its busy time (idle waits are not sampled), spread over the
    requests that worker answered meanwhile (the load's rate over the workers)."""
    answered = profile["load"]["requests_per_s"] * profile["seconds"] / workers
    return {
        part: 1000 * (profile["samples"] * share / 100 / profile["rate_hz"]) / answered
        for part, share in profile["percent"].items()
    }
