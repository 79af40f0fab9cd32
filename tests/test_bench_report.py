"""The bench report compares image sizes and the serving start with the previous run."""

from __future__ import annotations

import json

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
