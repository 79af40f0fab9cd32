"""Each target compares like with like: ours' V2 with MLServer's V2, ours' /predict with
BentoML's, and ours' single-row figure is the median of the stability runs."""

from __future__ import annotations

import pytest

from labctl.bench.targets import TARGETS, median_run, ours_single


def _run(rate: float, p99: float = 10.0) -> dict:
    return {"requests_per_s": rate, "p50_ms": p99 / 2, "p99_ms": p99}


def _results() -> dict:
    return {
        "machine": {"cores": 2},
        "serving": {
            "ours": {
                "single_c8": _run(900),  # one unlucky run: the targets use the median
                "batch100_c8": _run(800),
                "v2_single_c8": _run(1200),
                "v2_batch100_c8": _run(1100),
            },
            "stability": {"stack": [_run(r) for r in (1000, 1300, 1100, 1250, 1200)]},
            "classic": {"single_c8": _run(400)},
            "ceilings": {"framework": _run(2400, p99=8.0)},
            "peers": {
                "mlserver": {"single_c8": _run(600), "batch100_c8": _run(550)},
                "bentoml": {"single_c8": _run(500), "batch100_c8": _run(400)},
            },
        },
    }


def _measured(key: str) -> float:
    target = next(t for t in TARGETS if t.key == key)
    return target.measure(_results())


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("vs_mlserver", 1200 / 600),  # V2 against V2
        ("vs_mlserver_batch", 1100 / 550),
        ("vs_bentoml", 1200 / 500),  # /predict's median stability run against BentoML
        ("vs_bentoml_batch", 800 / 400),
        ("vs_classic", 1200 / 400),
        ("vs_framework", 1200 / 2400),
        ("steady_stack", 1000 / 1300),
        ("p99_vs_framework", 10.0 / 8.0),
    ],
)
def test_each_target_compares_like_with_like(key, expected):
    assert _measured(key) == pytest.approx(expected)


def test_the_median_run_is_the_middle_one_and_a_run_without_them_uses_its_one_run():
    runs = [_run(r) for r in (5, 1, 3)]
    assert median_run(runs)["requests_per_s"] == 3
    results = _results()
    assert ours_single(results)["requests_per_s"] == 1200
    del results["serving"]["stability"]
    assert ours_single(results)["requests_per_s"] == 900
