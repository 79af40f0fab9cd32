"""Wait for a server the bench started to answer."""

from __future__ import annotations

import time
import urllib.request


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def wait_ready(url: str, timeout_s: float = 60) -> float:
    """Seconds until url answers 200 (polled every 20 ms)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if _ready(url):
            return round(time.monotonic() - started, 3)
        time.sleep(0.02)
    raise TimeoutError(f"{url} not ready after {timeout_s} s")
