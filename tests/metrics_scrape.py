"""Read one series from the app's /metrics, as a test sees it through Flask's test client."""

from __future__ import annotations


def metric(client, line_start: str) -> float:
    """The value of the first /metrics line starting with line_start (0.0 if none yet)."""
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
