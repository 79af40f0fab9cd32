"""How cost grows with load: req/s and p99 against concurrency (single rows), rows/s and
p99 against batch size, and each worker's memory against batch size."""

from __future__ import annotations

from invoke import Context

from labctl.bench import bodies, wrk
from labctl.bench.workers import workers

CONCURRENCY = (1, 2, 4, 8, 16, 32, 64)
BATCH_SIZES = (1, 10, 100, 1000)


def concurrency(c: Context, predict_url: str, seconds: float) -> list[dict]:
    """Single rows at each concurrency of CONCURRENCY."""
    points = []
    for connections in CONCURRENCY:
        run = wrk.run(c, predict_url, bodies.predict(1), bodies.JSON, connections, seconds)
        points.append({"connections": connections, **run.as_dict()})
    return points


def batches(c: Context, predict_url: str, seconds: float, serving: str) -> list[dict]:
    """Each batch size of BATCH_SIZES at c=8, with the workers' memory sampled halfway."""
    points = []
    for rows in BATCH_SIZES:
        run, memory = wrk.run_probed(
            c,
            predict_url,
            bodies.predict(rows),
            bodies.JSON,
            8,
            seconds,
            lambda: sorted(workers(c, serving).values()),
        )
        result = run.as_dict()
        rows_per_s = round(result["requests_per_s"] * rows)
        points.append(
            {"rows": rows, **result, "rows_per_s": rows_per_s, "worker_rss_mib": memory or []}
        )
    return points
