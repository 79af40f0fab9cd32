"""Prometheus on the real stack (Compose profile `observe`): promtool passes inside the
image, Prometheus counts every prediction of every gunicorn worker, a refused model
version raises its alert, and every serving replica is a target of its own."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from invoke import Context

from labctl import docker as engine
from labctl.settings import ROOT
from labctl.stack import free_port
from tests.docker.conftest import docker, run_invoke, running_stack
from tests.docker.test_signed_models import FIX_UP, planted

pytestmark = pytest.mark.docker

OBSERVE = ROOT / "observe"
# promtool's unit tests need a scratch folder (the root filesystem is read-only, as in
# Compose) and no network.
PROMTOOL = ["run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp"]
PROMTOOL += ["--entrypoint", "promtool"]
# Each worker's own counts, read from its multi-process file inside the serving container
# (/metrics sums them): pid -> instances it classified.
WORKER_PREDICTIONS = """
import glob, json, os
from prometheus_client.mmap_dict import MmapedDict
counts = {}
for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "counter_*.db")):
    pid = path.rsplit("_", 1)[1].removesuffix(".db")
    counts[pid] = sum(
        value
        for key, value, *_ in MmapedDict.read_all_values_from_file(path)
        if json.loads(key)[1] == "serving_predictions_total"
    )
print(json.dumps(counts))
"""
ROWS = ([5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5], [5.9, 3.0, 4.2, 1.5])


@pytest.fixture(scope="module")
def prometheus_image(images) -> str:
    """The Prometheus image, built by `inv build` as a user builds it."""
    result = run_invoke("build", "--service", "prometheus")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return images.image("prometheus")


def _promtool(image: str, *args: str, mounts: tuple[str, ...] = (), check: bool = True):
    volumes = [option for mount in mounts for option in ("-v", mount)]
    return docker(*PROMTOOL, *volumes, image, *args, check=check)


def test_promtool_passes_inside_the_image(prometheus_image):
    config = _promtool(prometheus_image, "check", "config", "/etc/prometheus/prometheus.yml")
    assert "SUCCESS: /etc/prometheus/prometheus.yml is valid" in config.stdout, config.stdout
    rules = _promtool(prometheus_image, "check", "rules", "/etc/prometheus/rules.yml")
    assert "SUCCESS: 7 rules found" in rules.stdout, rules.stdout
    # The repository's tests against the rules the image ships (rules.test.yml names
    # rules.yml beside it).
    tests = f"{OBSERVE / 'rules.test.yml'}:/etc/prometheus/rules.test.yml:ro"
    result = _promtool(
        prometheus_image, "test", "rules", "/etc/prometheus/rules.test.yml", mounts=(tests,)
    )
    assert "SUCCESS" in result.stdout, result.stdout
    shipped = docker(
        "run", "--rm", "--entrypoint", "cat", prometheus_image, "/etc/prometheus/rules.yml"
    )
    assert shipped.stdout == (OBSERVE / "rules.yml").read_text(), "the image's rules are stale"


# Rules weakened one way each, and the alert whose tests must then fail.
WEAKENED = [
    ("the 5xx line moved from 5 % to 50 %", "} > 0.05", "} > 0.5", "ServingHighErrorRatio"),
    (
        "the probes counted as errors",
        'route!~"/readyz|/healthz|/metrics|/v2/health/.+|/v2/models/.+/ready"',
        'route!~"/metrics"',
        "ServingHighErrorRatio",
    ),
    (
        "the refused-LATEST state ignored",
        "(serving_model_latest_refused) == 1",
        "(serving_model_latest_refused) == 2",
        "ServingModelLoadFailures",
    ),
]


@pytest.mark.parametrize(("why", "old", "new", "alert"), WEAKENED, ids=[w[0] for w in WEAKENED])
def test_the_rule_tests_fail_on_a_weakened_rule(prometheus_image, tmp_path, why, old, new, alert):
    """The same tests, on rules weakened one way: promtool fails, naming the alert."""
    weakened = tmp_path / "rules.yml"
    text = (OBSERVE / "rules.yml").read_text()
    assert text.count(old) == 1
    weakened.write_text(text.replace(old, new))
    weakened.chmod(0o644)
    mounts = (
        f"{OBSERVE / 'rules.test.yml'}:/etc/prometheus/rules.test.yml:ro",
        f"{weakened}:/etc/prometheus/rules.yml:ro",
    )
    result = _promtool(
        prometheus_image,
        "test",
        "rules",
        "/etc/prometheus/rules.test.yml",
        mounts=mounts,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    assert alert in result.stdout + result.stderr


# --------------------------------------------------------------- the stack --


def _left_of(project: str) -> list[str]:
    """Containers, networks and volumes of a Compose project that still exist."""
    label = f"label=com.docker.compose.project={project}"
    found = []
    for kind in ("container", "network", "volume"):
        listed = docker(
            kind, "ls", "-q", *(["--all"] if kind == "container" else []), "--filter", label
        )
        found += [f"{kind} {identifier}" for identifier in listed.stdout.split()]
    return found


@pytest.fixture(scope="module")
def observed(images, prometheus_image):
    """Lab 2 with `inv lab2 --observe`, on its own project and free ports; yields the
    stack and Prometheus's URL. `inv down --volumes` after, which must leave nothing."""
    with pytest.MonkeyPatch.context() as patch:
        port = free_port()
        # The tasks read PROMETHEUS_PORT (labctl/settings.py) and hand it to Compose,
        # which publishes Prometheus on it.
        patch.setenv("PROMETHEUS_PORT", str(port))
        with running_stack(images, "observe", "--observe") as stack:
            project = stack.settings.compose_project
            yield stack, f"http://127.0.0.1:{port}"
    assert _left_of(project) == [], "inv down --volumes left part of the observed stack"


def _api(prometheus: str, path: str, **params) -> dict:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{prometheus}/api/v1/{path}{query}", timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


def _query(prometheus: str, promql: str) -> list[dict]:
    return _api(prometheus, "query", query=promql)["result"]


def _scalar(prometheus: str, promql: str) -> float | None:
    result = _query(prometheus, promql)
    return float(result[0]["value"][1]) if result else None


def _wait(check, timeout_s: float, interval_s: float = 1.0):
    """check() until it returns something truthy (returned), or None at the deadline."""
    return engine.wait_for(check, timeout_s, interval_s=interval_s)


def _worker_predictions(stack) -> dict[str, float]:
    return json.loads(stack.exec("serving", "python", "-c", WORKER_PREDICTIONS).stdout)


def _predict(url: str, rows: int) -> int:
    body = json.dumps({"instances": [ROWS[i % len(ROWS)] for i in range(rows)]}).encode()
    request = urllib.request.Request(
        f"{url}/predict", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return len(json.loads(response.read())["predictions"])


def test_prometheus_counts_every_prediction_of_every_worker(observed):
    stack, prometheus = observed
    # One replica, found by DNS and scraped.
    targets = _wait(lambda: _query(prometheus, 'up{job="serving"} == 1'), 30)
    assert targets and len(targets) == 1, targets
    before = _worker_predictions(stack)
    # Concurrent requests of 1 to 3 rows each through the proxy, in rounds, until both
    # gunicorn workers have classified some (which worker accepts a connection is the
    # kernel's choice).
    sent, rounds = 0, 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while True:
            sent += sum(pool.map(lambda i: _predict(stack.url, 1 + i % 3), range(48)))
            rounds += 1
            now = _worker_predictions(stack)
            grew = [pid for pid, count in now.items() if count > before.get(pid, 0)]
            if len(grew) >= 2 or rounds == 10:
                break
    assert len(grew) == 2, f"after {rounds} rounds only workers {grew} predicted: {now}"
    # What the workers counted is what was sent (the files are the ground truth)...
    assert sum(now.values()) - sum(before.values()) == sent
    # ...and Prometheus, scraping /metrics (the workers summed), reports the same total.
    expected = sum(now.values())
    started = time.monotonic()
    reported = _wait(
        lambda: _scalar(prometheus, "sum(serving_predictions_total)") == expected or None, 30
    )
    seen = _scalar(prometheus, "sum(serving_predictions_total)")
    assert reported, f"Prometheus reports {seen} predictions, the workers counted {expected}"
    print(
        f"\n{sent} predictions in {rounds} round(s) across workers {sorted(grew)}; "
        f"Prometheus reported {expected:.0f} after {time.monotonic() - started:.1f} s"
    )


def test_the_web_ui_and_everything_its_pages_load_answer(observed):
    """The image drops moment-timezone's raw data (212 MB): every script and stylesheet
    the classic UI's pages name is still served."""
    _, prometheus = observed
    assets = set()
    for page in ("graph", "alerts", "targets", "rules"):
        with urllib.request.urlopen(f"{prometheus}/classic/{page}", timeout=10) as response:
            html = response.read().decode()
        assets |= set(re.findall(r'(?:src|href)="(/classic/static/[^"?]+)', html))
    assert any("moment-timezone" in asset for asset in assets), sorted(assets)
    missing = []
    for asset in sorted(assets):
        try:
            urllib.request.urlopen(f"{prometheus}{asset}", timeout=10).close()
        except urllib.error.HTTPError as error:
            missing.append(f"{asset}: {error.code}")
    assert missing == []


def _alerts(prometheus: str, name: str) -> list[dict]:
    return [a for a in _api(prometheus, "alerts")["alerts"] if a["labels"]["alertname"] == name]


def test_a_refused_model_version_raises_the_alert(observed):
    stack, prometheus = observed
    assert _alerts(prometheus, "ServingModelLoadFailures") == []
    (target,) = _query(prometheus, 'up{job="serving"} == 1')
    # An unsigned version (every sha256 made true), planted and named in LATEST.
    script = f'rm signature.json && python -c "{FIX_UP}"'
    with planted(stack, script) as (serving, version, _):
        started = time.monotonic()
        raised = _wait(
            lambda: [
                alert
                for alert in _alerts(prometheus, "ServingModelLoadFailures")
                if alert["state"] in ("pending", "firing")
            ],
            90,
        )
        elapsed = time.monotonic() - started
        assert raised, f"no ServingModelLoadFailures alert within 90 s of planting {version}"
        (alert,) = raised
        assert alert["labels"]["instance"] == target["metric"]["instance"]
        assert alert["labels"]["severity"] == "warning"
        assert stack.served_version() == serving
    # Refusing a version is not losing the model: the other alert stays quiet.
    assert _alerts(prometheus, "ServingNoModelReady") == []
    print(
        f"\nServingModelLoadFailures {alert['state']} {elapsed:.1f} s after {version} was planted"
    )


def test_every_serving_replica_is_a_target_of_its_own(observed):
    """A second serving container: DNS names both, Prometheus scrapes both, and each
    reports a model ready."""
    stack, prometheus = observed
    scaled = engine.compose(
        Context(),
        stack.settings,
        ["up", "-d", "--no-deps", "--no-recreate", "--scale", "serving=2", "serving"],
        hide=True,
        echo=False,
        warn=True,
    )
    assert scaled.ok, scaled.stderr
    ready = _wait(
        lambda: (
            len(_query(prometheus, 'up{job="serving"} == 1')) == 2
            and len(_query(prometheus, "max by (instance) (serving_model_info) == 1")) == 2
        ),
        60,
    )
    assert ready, _query(prometheus, 'up{job="serving"}')


def test_the_audit_reads_prometheus_back_like_every_service(observed):
    """With the observe profile up, `inv audit` audits Prometheus too: hardening, limits,
    its one published port (127.0.0.1 only: it has no authentication), its image."""
    stack, prometheus = observed
    result = stack.inv("audit")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.endswith((" pass", " FAIL"))]
    checks = {row.split("  ")[0] for row in rows}
    for check in (
        "prometheus: user",
        "prometheus: read-only root filesystem",
        "prometheus: memory limit",
        "prometheus: published ports",
        "network observe: internal",
        "prometheus image: secrets in history",
    ):
        assert check in checks, sorted(checks)
    port = urllib.parse.urlsplit(prometheus).port
    published = next(row for row in rows if row.startswith("prometheus: published ports"))
    assert f"['127.0.0.1:{port}']" in published and published.endswith(" pass"), published
