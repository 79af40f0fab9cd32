"""A small, bounded load generator for the fault tests: threads posting to /predict."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

BODY = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]}).encode()


@dataclass
class Results:
    """Every answer and every failure of a load, none lost.

    A failure is any of: a status other than 200, an exception of any kind (a broken
    connection, an unreadable body, a body without what it must hold), or a 200 whose
    body names no model version. Tests assert each kind is zero, not just their sum.
    """

    statuses: Counter = field(default_factory=Counter)
    versions: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    unversioned: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + len(self.errors)

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)

    @property
    def failed(self) -> int:
        return self.non_2xx + len(self.errors) + self.unversioned

    def breakdown(self) -> dict:
        """What went wrong, by kind (all zero when nothing did)."""
        return {
            "non_2xx": self.non_2xx,
            "exceptions": len(self.errors),
            "unversioned": self.unversioned,
        }

    def assert_clean(self, at_least: int) -> None:
        """No failure of any kind, and at least that many answers."""
        assert self.breakdown() == {"non_2xx": 0, "exceptions": 0, "unversioned": 0}, (
            dict(self.statuses),
            self.errors[:5],
        )
        assert self.statuses[200] >= at_least, dict(self.statuses)


class Load:
    """`with Load(url, threads=4) as results:` keeps posting until the block ends.

    Bounded: stops at the end of the block or after max_seconds, whichever comes first.
    Each thread keeps one keep-alive connection; reconnects when the server closes it.
    """

    def __init__(self, base_url: str, threads: int = 4, max_seconds: float = 120, body=BODY):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.threads = threads
        self.deadline = time.monotonic() + max_seconds
        self.body = body
        self.results = Results()
        self.stop = threading.Event()
        self.workers: list[threading.Thread] = []

    def _run(self) -> None:
        connection = None
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            if connection is None:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                connection.request(
                    "POST", "/predict", self.body, {"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                payload = response.read()
                version = None
                if response.status == 200:
                    model = json.loads(payload).get("model")
                    version = model.get("version") if isinstance(model, dict) else None
                with self.results.lock:
                    self.results.statuses[response.status] += 1
                    if version:
                        self.results.versions.append(version)
                    elif response.status == 200:
                        self.results.unversioned += 1
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except Exception as exc:  # every failure is counted, none kills the thread
                with self.results.lock:
                    self.results.errors.append(f"{type(exc).__name__}: {exc}")
                connection.close()
                connection = None
                time.sleep(0.05)

    def __enter__(self) -> Results:
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, daemon=True)
            worker.start()
            self.workers.append(worker)
        return self.results

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        for worker in self.workers:
            worker.join(timeout=60)
