"""Drive wrk (Debian's package) and read its report."""

from __future__ import annotations

import os
import re
import shlex
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

from invoke import Context, Exit

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
T = TypeVar("T")


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int

    def as_dict(self) -> dict:
        return asdict(self)


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(output: str) -> WrkResult:
    """Requests/s, p50/p99 latency, totals and errors from `wrk --latency` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests_per_s=rps,
        p50_ms=p50,
        p99_ms=p99,
        requests=total,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(map(int, errors.groups())) if errors else 0,
    )


def run_probed(
    c: Context,
    url: str,
    body: str,
    content_type: str,
    connections: int,
    seconds: float,
    probe: Callable[[], T],
    after_s: float | None = None,
) -> tuple[WrkResult, T | None]:
    """A run with probe() called after_s into it (halfway by default): memory, a
    profiler. Its value, or None when the probe failed."""
    box: dict = {}

    def call() -> None:
        time.sleep(seconds / 2 if after_s is None else after_s)
        try:
            box["value"] = probe()
        except Exception:  # a failed probe loses its figure, never the run
            box["value"] = None

    thread = threading.Thread(target=call)
    thread.start()
    try:
        result = run(c, url, body, content_type, connections, seconds)
    finally:
        thread.join()
    return result, box.get("value")


def batch(c: Context, url: str, body: str, rows: int, seconds: float) -> dict:
    """A run at c=8 of `rows`-row requests, with its rows/s."""
    result = run(c, url, body, "application/json", 8, seconds).as_dict()
    return {**result, "rows_per_s": round(result["requests_per_s"] * rows)}


def run(
    c: Context, url: str, body: str, content_type: str, connections: int, seconds: float
) -> WrkResult:
    """POST body to url with `connections` keep-alive connections for `seconds`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write('wrk.method = "POST"\n')
        # A level-2 long string: JSON batches contain "]]", which would end [[...]].
        handle.write(f"wrk.body = [==[{body}]==]\n")
        handle.write(f'wrk.headers["Content-Type"] = "{content_type}"\n')
        script = handle.name
    try:
        result = c.run(
            f"wrk --latency -t{min(connections, 2)} -c{connections} -d{max(1, round(seconds))}s "
            f"-s {shlex.quote(script)} {shlex.quote(url)}",
            hide=True,
            warn=True,
        )
    finally:
        os.unlink(script)
    if not result.ok:
        raise Exit(f"wrk failed: {result.stderr.strip() or result.stdout.strip()}", code=1)
    return parse(result.stdout)
