"""Metric labels are bounded: made-up methods and paths never create new series.

prometheus_client picks its multi-process storage when it is imported, so the
multi-process check runs the Flask test client in a child process with its own
PROMETHEUS_MULTIPROC_DIR, as gunicorn's workers do.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import sys

from app import create_app, metrics
from labctl.stack import parse_worker_versions

MADE_UP = 2000


def made_up_requests(rng: random.Random, count: int):
    """(method, path) pairs no client should send: invented methods, random paths."""
    for _ in range(count):
        method = "".join(rng.choices(string.ascii_uppercase, k=12))
        path = rng.choice(["/predict", "/", f"/x/{rng.randrange(10**9)}"])
        yield method, path


def test_labels_are_bounded_whatever_the_client_sends(tmp_path):
    app = create_app({"registry": tmp_path, "reload_interval_s": 0, "log_requests": False})
    client = app.test_client()
    for method, path in made_up_requests(random.Random(1), MADE_UP):
        assert client.open(path, method=method).status_code in (404, 405)
    routes = {rule.rule for rule in app.url_map.iter_rules()} | {metrics.UNMATCHED_ROUTE}
    for metric in (metrics.REQUESTS, metrics.LATENCY):
        for sample in next(iter(metric.collect())).samples:
            assert sample.labels["method"] in (*metrics.METHODS, metrics.OTHER_METHOD), sample
            assert sample.labels["route"] in routes, sample


CHILD = """
import json, os, random, sys
from pathlib import Path
from app import create_app, metrics
from labctl.stack import parse_worker_versions
sys.path.insert(0, sys.argv[2])
from test_metrics_labels import made_up_requests

app = create_app({"registry": Path(sys.argv[1]), "reload_interval_s": 0, "log_requests": False})
client = app.test_client()
rng = random.Random(2)
directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])

def footprint():
    files = sorted(directory.iterdir())
    return [len(files), sum(path.stat().st_size for path in files)]

for method, path in made_up_requests(rng, 50):
    client.open(path, method=method)
before = footprint()
for method, path in made_up_requests(rng, int(sys.argv[3])):
    client.open(path, method=method)
after = footprint()
methods = {
    line.split('method="', 1)[1].split('"', 1)[0]
    for line in metrics.exposition().decode().splitlines()
    if line.startswith("serving_http_requests_total{")
}
print(json.dumps({"before": before, "after": after, "methods": sorted(methods)}))
"""


def test_multiprocess_files_do_not_grow_with_made_up_methods(tmp_path):
    multiproc = tmp_path / "metrics"
    multiproc.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    here = os.path.dirname(__file__)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "registry"), here, str(MADE_UP)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.splitlines()[-1])
    # Same number of files, same bytes: no new series after the first few requests.
    assert report["after"] == report["before"], report
    assert set(report["methods"]) <= {*metrics.METHODS, metrics.OTHER_METHOD}, report


SWAP_CHILD = """
import json, os
from app import metrics

class Served:
    def __init__(self, version):
        self.version, self.runtime, self.class_names = version, "onnxruntime", ("a", "b")

metrics.model_swapped(None, Served("v1"))
metrics.model_swapped(Served("v1"), Served("v2"))
print(json.dumps({"pid": os.getpid(), "text": metrics.exposition().decode()}))
"""


def test_each_worker_reports_the_version_it_serves_under_gunicorns_metrics(tmp_path):
    """In multi-process mode serving_model_info has a series per worker (a pid label),
    and the one at 1 is the version that worker serves: what `inv train` waits on."""
    multiproc = tmp_path / "metrics"
    multiproc.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    result = subprocess.run(
        [sys.executable, "-c", SWAP_CHILD], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert parse_worker_versions(report["text"]) == {report["pid"]: "v2"}
    assert "serving_model_version" not in report["text"] and "\nmodel_" not in report["text"]


def test_worker_versions_are_read_whatever_the_label_order():
    text = (
        'serving_model_info{pid="7",runtime="onnxruntime",version="v3"} 0.0\n'
        'serving_model_info{version="v4",pid="7",runtime="onnxruntime"} 1.0\n'
        'serving_model_info{pid="9",runtime="onnxruntime",version="v3"} 1.0\n'
        'serving_model_info{runtime="onnxruntime",version="v3"} 1.0\n'
    )
    assert parse_worker_versions(text) == {7: "v4", 9: "v3"}
