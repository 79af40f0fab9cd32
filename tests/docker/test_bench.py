"""`inv bench --quick` runs end to end, so the benchmark cannot rot (figures are not judged)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.docker.conftest import run_invoke

pytestmark = pytest.mark.docker


def test_quick_bench_writes_a_complete_report(images, tmp_path):
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed (apt-get install wrk); .ci/run installs it")
    result = run_invoke("bench", "--quick", "--out", str(tmp_path), timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True
    serving = results["serving"]
    for server in ("ours", "classic"):
        for run in serving[server].values():
            assert run["requests"] > 0 and run["requests_per_s"] > 0
            assert run["non_2xx"] == 0 and run["socket_errors"] == 0, (server, run)
    assert serving["ours"]["batch1000_c8"]["rows_per_s"] > 0
    assert serving["runtime"] == "onnxruntime"
    # Issue 14's rows: every one measured, every answer a 2xx.
    runs = [*serving["stability"]["stack"], *serving["stability"]["native"]]
    runs += [serving["ceilings"]["framework"]]
    for peer in ("mlserver", "bentoml"):
        assert set(serving["peers"][peer]) == {"single_c8", "batch100_c8"}, peer
        runs += serving["peers"][peer].values()
    assert len(serving["stability"]["stack"]) == len(serving["stability"]["native"]) == 5
    curves = serving["curves"]
    assert [p["connections"] for p in curves["concurrency"]] == [1, 2, 4, 8, 16, 32, 64]
    assert [p["rows"] for p in curves["batch"]] == [1, 10, 100, 1000]
    assert all(len(p["worker_rss_mib"]) == serving["workers"] == 2 for p in curves["batch"])
    runs += [*curves["concurrency"], *curves["batch"], serving["ceilings"]["proxy"]]
    for run in runs:
        assert run["requests"] > 0 and run["non_2xx"] == 0 and run["socket_errors"] == 0, run
    # py-spy sampled a worker of ours and of the constant answer: the model is in ours only.
    ours, constant = serving["profile"], serving["ceilings"]["framework_profile"]
    assert ours["samples"] > 0 and constant["samples"] > 0, (ours, constant)
    assert ours["percent"]["model (ONNX Runtime)"] > 0
    assert "model (ONNX Runtime)" not in constant["percent"]
    assert set(results["floor"]) == {"scikit-learn", "onnxruntime"}
    assert set(results["images"]) == {"serving", "training", "naive"}
    assert all(image["bytes"] > image["packages_bytes"] > 0 for image in results["images"].values())
    builds = results["builds"]
    assert set(builds) == {
        "cold",
        "cold_runs",
        "warm",
        "code_change",
        "dependency_change",
        "dependency_change_without_cache_mount",
    }
    # The one-package change went through the fetch meter: with uv's cache mount it
    # fetched less than the whole lock without it, and the naive build fetched something.
    fetched = builds["dependency_change"]["fetched_bytes"]
    without = builds["dependency_change_without_cache_mount"]["fetched_bytes"]["ours"]
    assert 0 < fetched["ours"] < without and fetched["naive"] > 0
    assert builds["dependency_change"]["package_wheel_bytes"] > 0
    assert builds["dependency_change"]["packages_downloaded"] == 1  # uv: "Prepared 1 package"
    assert len(results["targets"]) == 19
    assert all(t["met"] or (t["miss"] and t["why"]) for t in results["targets"])
    report = (tmp_path / "report.md").read_text()
    assert "## Targets" in report and results["machine"]["cpu"] in report
    for chart in ("bench.png", "curves.png"):
        assert (tmp_path / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
