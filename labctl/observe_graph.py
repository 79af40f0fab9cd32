"""A picture of Prometheus graphing the stack under load (README's observe section).

`inv observe-graph` drives the running stack (`inv lab2 --observe`) with the bench's
own wrk load, in phases a reader can tell apart on the graph, then photographs
Prometheus's graph page with headless chromium: the picture is Prometheus's own
view of the stack, from its scrapes, with the recording rules the stack ships.
"""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from invoke import Context, Exit

from labctl import stack
from labctl.bench import wrk
from labctl.bench.bodies import FORM, ROW
from labctl.settings import Settings


@dataclass(frozen=True)
class Phase:
    """One stretch of load: what is sent, over how many connections, for how long."""

    name: str
    body: str
    content_type: str
    connections: int
    seconds: int


def phases(scale: float = 1.0) -> list[Phase]:
    """The load of the picture: the bench's single rows, then batches, then bad input."""

    def rows(count: int) -> str:
        return '{"instances": [' + ", ".join([str(ROW)] * count) + "]}"

    def seconds(base: int) -> int:
        return max(5, round(base * scale))

    json_type = "application/json"
    return [
        Phase("single rows, 8 connections", rows(1), json_type, 8, seconds(60)),
        Phase("100-row batches, 4 connections", rows(100), json_type, 4, seconds(45)),
        Phase(
            "the classic form, 2 connections",
            FORM,
            "application/x-www-form-urlencoded",
            2,
            seconds(30),
        ),
        Phase(
            "out-of-range input (422), 2 connections",
            rows(1).replace("5.1", "500"),
            json_type,
            2,
            seconds(30),
        ),
    ]


# The graphs: (what it shows, PromQL). The rules' recorded series where there is one.
PANELS = [
    (
        "requests/s by status",
        'sum by (status) (rate(serving_http_requests_total{route="/predict"}[30s]))',
    ),
    ("p99 latency by route (s)", "route:serving_http_request_duration_seconds:p99_rate1m"),
    (
        "instances classified/s by class",
        "sum by (class_name) (rate(serving_predictions_total[30s]))",
    ),
]


def graph_url(base: str, minutes: int) -> str:
    """Prometheus's graph page (the classic UI, the one Debian ships) with every panel."""
    query = {}
    for index, (_, expression) in enumerate(PANELS):
        query[f"g{index}.expr"] = expression
        query[f"g{index}.tab"] = "0"
        query[f"g{index}.range_input"] = f"{minutes}m"
    return f"{base}/classic/graph?{urllib.parse.urlencode(query)}"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - our own stack
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def screenshot(url: str, out: Path) -> None:
    """A full-page picture of url, once its graphs are drawn."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise Exit(
            "the picture needs the test extra (playwright): ./labs test installs it"
        ) from None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise Exit("chromium is not installed: './labs setup --tests' installs it", code=1)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(url)
            # One drawn graph (an SVG path) per panel.
            page.wait_for_function(
                f"document.querySelectorAll('.graph_area svg path').length >= {len(PANELS)}",
                timeout=30_000,
            )
            # The navigation bar is fixed to the window: in a full-page picture it would
            # land across a graph.
            page.add_style_tag(content="nav { position: static !important; }")
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def run(c: Context, settings: Settings, out: Path, scale: float = 1.0) -> list[dict]:
    """Load the stack phase by phase, then photograph Prometheus's view of it."""
    base = stack.prometheus_url(settings)
    if not _answers(f"{base}/-/ready") or not _answers(f"{stack.url(settings)}/readyz"):
        raise Exit(
            f"needs Lab 2 with Prometheus up (nothing ready at {base} or {stack.url(settings)}): "
            "inv lab2 --observe",
            code=1,
        )
    report = []
    started = time.monotonic()
    for phase in phases(scale):
        print(f"observe-graph: {phase.name}, {phase.seconds} s")
        result = wrk.run(
            c,
            f"{stack.url(settings)}/predict",
            phase.body,
            phase.content_type,
            phase.connections,
            phase.seconds,
        )
        report.append({"phase": phase.name, **result.as_dict()})
    # Two more scrapes (5 s apart) and one rule evaluation after the last phase.
    time.sleep(15)
    minutes = int((time.monotonic() - started) // 60) + 2
    out.parent.mkdir(parents=True, exist_ok=True)
    screenshot(graph_url(base, minutes), out)
    print(f"observe-graph: {out}")
    return report
