"""Wait for a server the bench started to answer."""

from __future__ import annotations

import time

from labctl import docker, stack


def wait_ready(url: str, timeout_s: float = 60) -> float:
    """Seconds until url answers 200 (polled every 20 ms: the start -> ready figure's
    resolution), through the one polling loop and the one GET of the tasks."""
    started = time.monotonic()
    if not docker.wait_for(lambda: stack.get_status(url, 2) == 200, timeout_s, interval_s=0.02):
        raise TimeoutError(f"{url} not ready after {timeout_s} s")
    return round(time.monotonic() - started, 3)
