"""The bench report compares image sizes and the serving start with the previous run."""

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
    assert saved["serving"]["start_to_ready_s"] > 0 and len(saved["targets"]) == 11
