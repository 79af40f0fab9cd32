"""The bench report: the change since the previous run, the targets, the serving sections
and their charts."""

from __future__ import annotations

import json

import pytest

from labctl.bench import report

MIB = 2**20


def _results(serving_mib: float, ready_s: float) -> dict:
    return {
        "date": "2026-11-27 04:00 UTC",
        "images": {"serving": {"bytes": int(serving_mib * MIB)}},
        "serving": {"start_to_ready_s": ready_s},
    }


def test_no_previous_run_means_no_comparison(tmp_path):
    assert report.previous_run(tmp_path / "results.json") is None
    (tmp_path / "results.json").write_text("{not json")
    assert report.previous_run(tmp_path / "results.json") is None
    assert report._changes({"previous": None}) == []


def test_the_change_since_the_previous_run_is_reported(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(_results(370, 1.4)))
    now = _results(239, 1.1)
    now["previous"] = report.previous_run(tmp_path / "results.json")
    lines = report._changes(now)
    assert "| serving image MiB | 370 | 239 | -131 |" in lines
    assert "| serving start → ready s | 1.4 | 1.1 | -0.30 |" in lines


def _committed_run() -> dict:
    from labctl.settings import ROOT

    results = json.loads((ROOT / "benchmarks" / "results" / "results.json").read_text())
    results.pop("targets", None)
    return results


def test_every_target_is_judged_from_the_run_and_explained_with_its_figures():
    from labctl.bench.targets import TARGETS, judge

    run = _committed_run()
    judged = judge(run)
    assert [t["key"] for t in judged] == [t.key for t in TARGETS]
    # Make every target miss: each explanation is then computed from this run's figures.
    for target in TARGETS:
        missed = {**target.__dict__, "goal": 1e12 if target.higher_is_better else -1.0}
        verdict = type(target)(**missed).judge(run)
        assert not verdict["met"] and verdict["why"], target.key
        assert any(ch.isdigit() for ch in verdict["why"]), (target.key, verdict["why"])
        assert "no explanation" not in verdict["why"], (target.key, verdict["why"])


def test_a_missing_figure_is_reported_never_raised():
    from labctl.bench.targets import judge

    run = _committed_run()
    del run["serving"]["ours"]["batch1000_c8"]
    del run["builds"]["dependency_change"]["packages_downloaded"]
    judged = {t["key"]: t for t in judge(run)}
    assert judged["batch_rows"]["measured"] == "not measured"
    assert "no figure" in judged["batch_rows"]["why"]
    assert judged["dep_fetch"]["met"] is False


def test_the_measurements_are_saved_before_anything_can_fail(tmp_path, monkeypatch):
    def broken_chart(results, path):
        raise RuntimeError("no matplotlib today")

    monkeypatch.setattr(report, "chart", broken_chart)
    with pytest.raises(RuntimeError, match="no matplotlib today"):
        report.write(_committed_run(), tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["serving"]["start_to_ready_s"] > 0 and len(saved["targets"]) == 19


# The newer serving measurements (stability, ceilings, the peer, curves, profile), made up.
CURVE = {1: 500, 2: 900, 4: 1200, 8: 1250, 16: 1240, 32: 1260, 64: 1230}


def _wrk(rps: float, p99: float = 10.0, **extra) -> dict:
    return {
        "requests_per_s": rps,
        "p50_ms": 5.0,
        "p99_ms": p99,
        "requests": 4 * int(rps),
        "non_2xx": 0,
        "socket_errors": 0,
        **extra,
    }


def _curve(rates: dict) -> list[dict]:
    return [{"connections": c, **_wrk(rps, p99=2.0 * c)} for c, rps in rates.items()]


def _batch(rows: int, rps: float) -> dict:
    return {"rows": rows, **_wrk(rps, rows_per_s=round(rows * rps)), "worker_rss_mib": [80.0, 81.5]}


def _newer_serving() -> dict:
    return {
        "curve_seconds_per_run": 2,
        "stability": {
            "stack": [_wrk(1000, 10), _wrk(950, 12), _wrk(980, 11)],
            "native": [_wrk(2000), _wrk(2000)],
        },
        "curves": {
            "concurrency": _curve(CURVE),
            "batch": [_batch(1, 1000), _batch(10, 1000), _batch(100, 800), _batch(1000, 400)],
        },
        "profile": {
            "samples": 200,
            "percent": {"model": 10.0, "Flask": 60.0, "sockets": 30.0},
            "load": _wrk(1100),
        },
        "ceilings": {"proxy": _wrk(24000), "framework": _wrk(2400)},
        "peers": {"mlserver": {"single_c8": _wrk(500), "batch100_c8": _wrk(450, rows_per_s=45000)}},
    }


def _newer_run() -> dict:
    run = _committed_run()
    run["targets"] = []
    run["serving"] |= _newer_serving()
    # /predict and V2 differ, so a table comparing with the wrong one shows other ratios.
    run["serving"]["ours"] |= {
        "single_c8": _wrk(1200),
        "v2_single_c8": _wrk(1000),
        "v2_batch100_c8": _wrk(900, rows_per_s=90000),
    }
    return run


@pytest.mark.parametrize(
    ("rates", "connections", "beyond"),
    [
        (CURVE, 4, (1230, 1260)),  # 90% of 1,260 is 1,134: c=4 is the first above
        ({1: 100, 2: 200, 4: 400}, 4, (400, 400)),  # still growing: nothing beyond
        ({1: 1000, 2: 950, 4: 900}, 1, (900, 950)),  # the peak comes first
        ({1: 890, 2: 900, 4: 1000}, 2, (1000, 1000)),  # 90% exactly is enough
    ],
)
def test_the_knee_is_the_smallest_concurrency_within_90_percent_of_the_peak(
    rates, connections, beyond
):
    knee = report.knee(_curve(rates))
    assert (knee["connections"], knee["beyond_requests_per_s"]) == (connections, beyond)
    assert knee["peak_requests_per_s"] == max(rates.values())
    last = max(rates)
    assert knee["little_ms"] == pytest.approx(1000 * last / rates[last])


@pytest.mark.parametrize(
    ("runs", "line"),
    [
        (
            [_wrk(1000, 10), _wrk(950, 12), _wrk(980, 11)],
            "| stack | 1,000 / 950 / 980 | 95.0% | 10.00–12.00 |",
        ),
        ([_wrk(2000, 5), _wrk(2000, 5)], "| stack | 2,000 / 2,000 | 100.0% | 5.00–5.00 |"),
    ],
)
def test_stability_shows_each_run_and_the_slowest_over_the_fastest(runs, line):
    assert report.stability_row("stack", runs) == line


def test_a_batch_costs_its_request_then_each_extra_row():
    costs = report.batch_costs(_newer_serving()["curves"]["batch"])
    assert costs["request_ms"] == pytest.approx(8.0)  # 8 connections / 1,000 req/s
    assert costs["row_us"] == pytest.approx(1000 * (20.0 - 10.0) / 900)  # 100 -> 1,000 rows
    assert costs["rows_per_s"] == 400_000


def test_the_newer_measurements_are_reported_with_their_figures():
    text = report.markdown(_newer_run())
    for expected in (
        "| V2 single c8 |",
        "## Stability (single rows, c=8, 3 runs back to back)",
        "| 1,000 / 950 / 980 | 95.0% |",
        # Ours' single-row figure is the median stability run (980), not the one run (1,200).
        "| (a) nginx alone, a constant | 24,000 | 5.00 | 10.00 | – | 0.04× |",
        "| (b) gunicorn + Flask, a constant, no model | 2,400 | 5.00 | 10.00 | – | 0.41× |",
        "| MLServer V2 single c8 | 500 | 5.00 | 10.00 | 500 | 2.00× |",
        "| MLServer V2 batch100 c8 | 450 | 5.00 | 10.00 | 45,000 | 2.00× |",
        "## How cost grows",
        "peak (1,260 req/s) at c=4; beyond it req/s stays within 1,230–1,260 while p99 grows "
        "from 8.00 ms to 128.00 ms at c=64",
        "c / throughput is 52.0 ms",
        "| 1,000 | 400 | 400,000 | 10.00 | 80.0, 81.5 |",
        "8.00 ms with 1 row",
        "each extra row adds 11.1 µs; at 1,000 rows that is 400,000 rows/s",
        "![how cost grows](curves.png)",
        "## Where a worker's time goes (py-spy, 200 samples)",
    ):
        assert expected in text, expected
    assert (
        text.index("| Flask | 60.0 |")
        < text.index("| sockets | 30.0 |")
        < text.index("| model | 10.0 |")
    )


SECTIONS = ("Stability", "Ceilings and the peers", "How cost grows", "Where a worker's time goes")
NEWER_KEYS = ("stability", "curves", "profile", "ceilings", "peers", "workers")


def _older_run() -> dict:
    """The committed run without what issue 14 added: a run from before it."""
    run = _committed_run()
    for key in NEWER_KEYS:
        run["serving"].pop(key, None)
    return run


def test_an_older_run_has_none_of_the_newer_sections():
    run = _older_run()
    run["targets"] = []
    text = report.markdown(run)
    assert "## Serving" in text
    assert not [name for name in SECTIONS if f"## {name}" in text]


@pytest.mark.parametrize(
    "section",
    [
        report.stability_section,
        report.ceilings_section,
        report.curves_section,
        report.profile_section,
    ],
)
def test_each_newer_section_is_left_out_without_its_figures(section):
    assert section({"serving": {"ours": {}}}) == [] and section({}) == []
    assert section({"serving": _newer_serving() | {"ours": {}}})


def test_a_skipped_profile_says_why():
    serving = {"profile": {"skipped": "py-spy needs SYS_PTRACE.", "load": _wrk(1000)}}
    assert (
        report.profile_section({"serving": serving})[-1] == "Not profiled: py-spy needs SYS_PTRACE."
    )


def test_curves_chart_draws_a_png(tmp_path):
    report.curves_chart({"serving": _newer_serving()}, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("curves", [True, False])
def test_curves_png_is_written_only_when_the_curves_were_measured(tmp_path, monkeypatch, curves):
    drawn = []
    monkeypatch.setattr(report, "chart", lambda results, path: drawn.append(path.name))
    monkeypatch.setattr(report, "curves_chart", lambda results, path: drawn.append(path.name))
    run = _newer_run() if curves else _older_run()
    paths = report.write(run, tmp_path)
    expected = ["bench.png", "curves.png"] if curves else ["bench.png"]
    assert [p.name for p in paths] == ["results.json", "report.md", *expected]
    assert drawn == expected


def test_a_workers_time_per_request_is_set_against_the_constant_answers():
    def profile(rate, percent):
        # 200 samples at 200 Hz over 1 s: a second of busy time, split by percent.
        load = {"requests_per_s": rate}
        return {"samples": 200, "percent": percent, "load": load, "seconds": 1, "rate_hz": 200}

    serving = {
        "workers": 2,
        "profile": profile(
            1000, {"Flask and Werkzeug": 50.0, "request log (JSON line to stderr)": 50.0}
        ),
        "ceilings": {"framework_profile": profile(2000, {"Flask and Werkzeug": 100.0})},
    }
    lines = report._against_the_constant({"serving": serving})
    # 2 workers at 1,000 req/s: 2 ms a request each, half in the log; the constant: 1 ms.
    assert "| request log (JSON line to stderr) | 1.000 | 0.000 | +1.000 |" in lines
    assert "| Flask and Werkzeug | 1.000 | 1.000 | +0.000 |" in lines
    assert lines[-1] == "| **all** | 2.000 | 1.000 | +1.000 |"
    assert report._against_the_constant({"serving": {**serving, "ceilings": {}}}) == []
