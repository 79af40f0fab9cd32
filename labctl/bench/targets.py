"""The bench's targets, each declared once: its goal, how it is measured from a run's
results, and how a miss is explained from that run's own figures (never from prose
written for one machine). A target the run has no figure for is reported as not
measured; an explanation that cannot be computed never loses a run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MIB = 2**20


@dataclass(frozen=True)
class Target:
    key: str
    name: str
    goal: float
    higher_is_better: bool
    unit: str
    measure: Callable[[dict], float]
    explain: Callable[[dict], str]
    fmt: str = "{:.2f}"

    def judge(self, results: dict) -> dict:
        """This target against one run: goal, measured, met, by how much, and why."""
        goal = f"{'≥' if self.higher_is_better else '≤'} {self.fmt.format(self.goal)}{self.unit}"
        judged = {"key": self.key, "target": self.name, "goal": goal}
        try:
            measured = float(self.measure(results))
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            why = f"this run has no figure for it ({type(exc).__name__}: {exc})"
            return {**judged, "measured": "not measured", "met": False, "miss": "", "why": why}
        met = measured >= self.goal if self.higher_is_better else measured <= self.goal
        if met:
            miss = ""
        elif self.higher_is_better:
            miss = f"missed by {(1 - measured / self.goal) * 100:.0f}%"
        else:
            miss = f"missed by {(measured / self.goal - 1) * 100:.0f}%"
        why = "" if met else _explained(self, results)
        measured_text = f"{self.fmt.format(measured)}{self.unit}"
        return {**judged, "measured": measured_text, "met": met, "miss": miss, "why": why}


def _explained(target: Target, results: dict) -> str:
    try:
        return target.explain(results)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        return f"(no explanation could be computed from this run: {type(exc).__name__} {exc})"


def _ours(r: dict) -> dict:
    return r["serving"]["ours"]


def _cores(r: dict) -> int:
    return r["machine"]["cores"]


def _floor_calls(r: dict) -> int:
    return r["floor"]["onnxruntime"]["single_row_calls_per_s"]


def _why_vs_classic(r: dict) -> str:
    ours, classic = _ours(r)["single_c8"], r["serving"]["classic"]["single_c8"]
    every_cpu = _ours(r)["single_c8_all_cpus"]["requests_per_s"]
    return (
        f"ours {ours['requests_per_s']:,.0f} req/s against the classic lab's "
        f"{classic['requests_per_s']:,.0f}; given every CPU ours does {every_cpu:,.0f}, so "
        f"the {_cores(r)} cores this machine shares between wrk, docker-proxy, nginx and the "
        f"workers are the limit; the model alone answers {_floor_calls(r):,} single-row "
        f"calls/s on one core, so the HTTP path, not the prediction, takes the time"
    )


def _why_all_cpus_rps(r: dict) -> str:
    run = _ours(r)["single_c8_all_cpus"]
    per_request_ms = 1000 * _cores(r) / run["requests_per_s"]
    return (
        f"{run['requests_per_s']:,.0f} req/s is {per_request_ms:.2f} ms of CPU per request "
        f"on {_cores(r)} cores shared with the load tool; the prediction takes "
        f"{r['floor']['onnxruntime']['predict_1_row_ms']} ms of it"
    )


def _why_all_cpus_p99(r: dict) -> str:
    run = _ours(r)["single_c8_all_cpus"]
    return (
        f"p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms: 8 connections queue on "
        f"{_cores(r)} cores that also run wrk"
    )


def _why_batch_rows(r: dict) -> str:
    return (
        f"the model alone does {r['floor']['onnxruntime']['rows_per_s_1000_batch']:,} rows/s "
        f"on 1,000-row batches; parsing and validating the JSON takes the rest"
    )


def _why_image_ratio(r: dict) -> str:
    images = r["images"]
    return (
        f"serving {images['serving']['bytes'] / MIB:.0f} MiB, of which its packages "
        f"{images['serving']['packages_bytes'] / MIB:.0f} MiB; naive "
        f"{images['naive']['bytes'] / MIB:.0f} MiB"
    )


def _builds(r: dict, step: str) -> str:
    times = r["builds"][step]
    return f"ours {times['ours']:.1f} s, naive {times['naive']:.1f} s"


def _why_dep_fetch(r: dict) -> str:
    change = r["builds"]["dependency_change"]
    return (
        f"uv downloaded {change['packages_downloaded']} packages for {change['package']}: "
        f"its cache mount did not hold the others"
    )


TARGETS = [
    Target(
        "vs_classic",
        "single-row req/s vs the classic lab (c=8, same limits)",
        4.0,
        True,
        "×",
        lambda r: (
            _ours(r)["single_c8"]["requests_per_s"]
            / r["serving"]["classic"]["single_c8"]["requests_per_s"]
        ),
        _why_vs_classic,
    ),
    Target(
        "all_cpus_rps",
        "single-row req/s at c=8, all CPUs",
        4000,
        True,
        " req/s",
        lambda r: _ours(r)["single_c8_all_cpus"]["requests_per_s"],
        _why_all_cpus_rps,
        "{:.0f}",
    ),
    Target(
        "all_cpus_p99",
        "p99 latency at c=8, all CPUs",
        10.0,
        False,
        " ms",
        lambda r: _ours(r)["single_c8_all_cpus"]["p99_ms"],
        _why_all_cpus_p99,
    ),
    Target(
        "batch_rows",
        "rows/s on 1,000-row batches",
        200_000,
        True,
        " rows/s",
        lambda r: _ours(r)["batch1000_c8"]["rows_per_s"],
        _why_batch_rows,
        "{:,.0f}",
    ),
    Target(
        "image_ratio",
        "serving image size / naive image size",
        0.40,
        False,
        "×",
        lambda r: r["images"]["serving"]["bytes"] / r["images"]["naive"]["bytes"],
        _why_image_ratio,
    ),
    Target(
        "cold_build",
        "cold build: ours / naive (median of the cold runs)",
        1.0,
        False,
        "×",
        lambda r: r["builds"]["cold"]["ours"] / r["builds"]["cold"]["naive"],
        lambda r: _builds(r, "cold"),
    ),
    Target(
        "code_rebuild",
        "code-only rebuild: naive time / ours",
        10.0,
        True,
        "×",
        lambda r: r["builds"]["code_change"]["naive"] / r["builds"]["code_change"]["ours"],
        lambda r: _builds(r, "code_change"),
    ),
    Target(
        "dep_rebuild",
        "one-package change rebuild: naive time / ours",
        2.0,
        True,
        "×",
        lambda r: (
            r["builds"]["dependency_change"]["naive"] / r["builds"]["dependency_change"]["ours"]
        ),
        lambda r: _builds(r, "dependency_change"),
    ),
    Target(
        "dep_fetch",
        "one-package change: packages uv downloads again",
        1,
        False,
        "",
        lambda r: r["builds"]["dependency_change"]["packages_downloaded"],
        _why_dep_fetch,
        "{:.0f}",
    ),
    Target(
        "start_ready",
        "serving container start → ready",
        2.0,
        False,
        " s",
        lambda r: r["serving"]["start_to_ready_s"],
        lambda r: f"{r['serving']['start_to_ready_s']} s from `docker start` to /readyz 200",
    ),
    Target(
        "lab2_healthy",
        "`inv lab2` (warm) → healthy",
        15.0,
        False,
        " s",
        lambda r: r["lab2_warm_s"],
        lambda r: f"{r['lab2_warm_s']} s: training, then serving's and the proxy's healthchecks",
        "{:.1f}",
    ),
]


def judge(results: dict) -> list[dict]:
    """Every target against one run's results."""
    return [target.judge(results) for target in TARGETS]
