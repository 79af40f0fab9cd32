"""Prometheus (the `observe` profile), without Docker: its configuration and rules parse
and name only metrics serving exports, the profile stays out of the default stack, and
`inv lab2 --observe`, `inv build --observe` and `inv down` hand Compose the profile."""

from __future__ import annotations

import re
import socket

import pytest
import yaml
from invoke import Exit, MockContext, Result
from prometheus_client.metrics import MetricWrapperBase

import tasks
from app import metrics
from labctl import audit, base_image, docker, stack
from labctl import settings as settings_module
from labctl.settings import ROOT, Settings
from tests import compose_file
from tests.test_structure import _allowed, _build_sources

OBSERVE = ROOT / "observe"
PROMETHEUS = "prometheus"
# The alerts and recordings the rules promise (README, "Observe with Prometheus").
ALERTS = {
    "ServingModelLoadFailures",
    "ServingHighErrorRatio",
    "ServingHighLatencyP99",
    "ServingNoModelReady",
}
RECORDINGS = {
    "route:serving_http_requests:rate1m",
    "route:serving_http_requests_5xx:ratio_rate1m",
    "route:serving_http_request_duration_seconds:p99_rate1m",
}
# Series Prometheus makes itself, not serving: `up` for every target, ALERTS for alerts.
PROMETHEUS_OWN = {"up", "ALERTS"}
# Labels Prometheus adds to every scraped series (and `le` of histogram buckets).
TARGET_LABELS = {"job", "instance"}


def _rules() -> list[dict]:
    groups = yaml.safe_load((OBSERVE / "rules.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _serving_samples() -> dict[str, set[str]]:
    """Every sample name app/metrics.py's metric objects export -> the label names each
    carries (a counter `x` exports x_total, a histogram x_bucket, x_sum and x_count)."""
    exported = {}
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    objects = [value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)]
    assert len(objects) >= 5
    for metric in objects:
        labels = set(metric._labelnames)
        for family in metric.describe():
            for suffix in suffixes.get(family.type, []):
                extra = {"le"} if suffix == "_bucket" else set()
                exported[family.name + suffix] = labels | extra
    return exported


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((OBSERVE / "prometheus.yml").read_text())


def test_prometheus_scrapes_every_serving_replica_by_dns_every_5_s(config):
    assert config["global"]["scrape_interval"] == "5s"
    assert config["global"]["evaluation_interval"] == "5s"
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "serving" and job["metrics_path"] == "/metrics"
    # DNS A records, not a static target: one target per serving container.
    assert job["dns_sd_configs"] == [
        {"names": ["serving"], "type": "A", "port": 8080, "refresh_interval": "5s"}
    ]
    assert "static_configs" not in job
    assert [(OBSERVE / name).is_file() for name in config["rule_files"]] == [True]


def test_the_rules_record_and_alert_what_they_promise():
    rules = _rules()
    alerts = {rule["alert"]: rule for rule in rules if "alert" in rule}
    assert set(alerts) == ALERTS
    assert {rule["record"] for rule in rules if "record" in rule} == RECORDINGS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    # A refused version must show within about a minute (the Docker test waits 90 s).
    assert alerts["ServingModelLoadFailures"]["for"] in ("0s", "30s", "1m")


def test_every_series_the_rules_read_is_one_serving_exports():
    exported = _serving_samples()
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    seen = set()
    for rule in _rules():
        # Every name a selector starts with: metric{...}, metric[...], metric) ...
        expr = re.sub(r'"[^"]*"', '""', rule["expr"])  # no words from inside strings
        for name, matchers in re.findall(r"\b([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?", expr):
            if name in recorded or name in PROMETHEUS_OWN or not name.startswith("serving_"):
                continue
            assert name in exported, f"{rule.get('record') or rule['alert']} reads {name}"
            seen.add(name)
            used = set(re.findall(r"(\w+)\s*=~?", matchers))
            assert used <= exported[name] | TARGET_LABELS, (name, used)
        for grouping in re.findall(r"\bby\s*\(([^)]*)\)", rule["expr"]):
            labels = {label.strip() for label in grouping.split(",")}
            assert labels <= set().union(*exported.values()) | TARGET_LABELS, labels
    # The four the brief names, and the refused-LATEST state, each read by some rule.
    assert seen == {
        "serving_http_requests_total",
        "serving_http_request_duration_seconds_bucket",
        "serving_model_info",
        "serving_model_load_failures_total",
        "serving_model_latest_refused",
    }


def test_the_recording_rules_group_by_route():
    for rule in _rules():
        if "record" in rule:
            assert rule["record"].startswith("route:")
            assert re.search(r"\bby \(route(, le)?\)", rule["expr"]), rule["record"]


def test_the_rule_tests_cover_every_alert():
    document = yaml.safe_load((OBSERVE / "rules.test.yml").read_text())
    assert document["rule_files"] == ["rules.yml"]
    firing, quiet = set(), set()
    for test in document["tests"]:
        for case in test.get("alert_rule_test", []):
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    assert firing == quiet == ALERTS


# ------------------------------------------------------------------ Compose --


def test_prometheus_is_only_in_the_observe_profile():
    default = compose_file.services()
    observed = compose_file.services(profiles=[docker.OBSERVE_PROFILE])
    assert PROMETHEUS not in default
    assert PROMETHEUS in observed
    assert [s for s in observed if s != PROMETHEUS] == default
    # The default stack is what it was: no network of the profile either.
    assert "observe" not in compose_file.config()["networks"]


def test_prometheus_is_hardened_bounded_and_published_on_loopback_only():
    compose = compose_file.config(profiles=[docker.OBSERVE_PROFILE])
    prometheus, serving = compose["services"][PROMETHEUS], compose["services"]["serving"]
    for key in ("user", "read_only", "cap_drop", "security_opt", "logging"):
        assert prometheus[key] == serving[key], key
    limits = prometheus["deploy"]["resources"]["limits"]
    assert limits["cpus"] and limits["memory"] and limits["pids"]
    (tsdb,) = prometheus["volumes"]
    assert tsdb["type"] == "tmpfs" and tsdb["target"] == "/prometheus"
    # The TSDB's tmpfs fits in the memory limit with room for Prometheus itself.
    assert int(tsdb["tmpfs"]["size"]) <= int(limits["memory"]) // 2
    (port,) = prometheus["ports"]
    assert (port["host_ip"], port["target"], port["published"]) == ("127.0.0.1", 9090, "9090")
    assert set(prometheus["networks"]) == {"backend", "observe"}
    assert compose["networks"]["backend"].get("internal") is True
    assert not compose["networks"]["observe"].get("internal")
    assert prometheus["image"] == Settings.from_env({}).image(PROMETHEUS)


def test_the_image_copies_only_what_dockerignore_lets_in():
    compose = compose_file.config(profiles=[docker.OBSERVE_PROFILE])
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = _build_sources(compose, PROMETHEUS)
    assert sources == ["observe/prometheus.yml", "observe/rules.yml"]
    assert all(_allowed(source, patterns) for source in sources)
    # Its retention stays within the tmpfs compose.yaml gives it.
    dockerfile = (ROOT / compose["services"][PROMETHEUS]["build"]["dockerfile"]).read_text()
    size_mb = int(re.search(r"--storage\.tsdb\.retention\.size=(\d+)MB", dockerfile).group(1))
    tmpfs = int(compose["services"][PROMETHEUS]["volumes"][0]["tmpfs"]["size"])
    assert size_mb * 2**20 <= tmpfs // 2


# -------------------------------------------------------------------- tasks --


class Engine(MockContext):
    """The engine's answers for a stack that is up and healthy; records every command."""

    def __init__(self):
        super().__init__()
        self.commands: list[str] = []

    def run(self, command, **kwargs):
        self.commands.append(command)
        if " ps -q" in command:
            return Result(stdout="c0ffee\n")
        if "Health.Status" in command:
            return Result(stdout="healthy\n")
        if "ExitCode" in command:
            return Result(stdout="0\n")
        return Result()

    def compose_commands(self, verb: str) -> list[str]:
        return [c for c in self.commands if c.startswith("docker compose") and f" {verb}" in c]


@pytest.fixture
def engine(monkeypatch) -> Engine:
    monkeypatch.setattr(docker, "compose_program", lambda: "docker compose")
    monkeypatch.setattr(docker, "engine_error", lambda c: None)
    monkeypatch.setattr(stack, "served_version", lambda settings: "v1")
    monkeypatch.setenv("LAB2_PORT", str(stack.free_port()))
    monkeypatch.setenv("PROMETHEUS_PORT", str(stack.free_port()))
    return Engine()


def test_lab2_observe_starts_prometheus_waits_for_it_and_prints_its_url(engine, capsys):
    tasks.lab2(engine, build_=False, observe=True)
    (up,) = engine.compose_commands("up")
    assert " --profile observe up -d " in up
    assert any(c.endswith(" ps -q prometheus") for c in engine.commands)
    out = capsys.readouterr().out
    port = Settings.from_env().prometheus_port
    assert "serving, proxy and prometheus healthy" in out
    prometheus = f"http://localhost:{port}"
    assert f"Prometheus: {prometheus}  (alerts: {prometheus}/classic/alerts)" in out


def test_lab2_without_observe_leaves_prometheus_out(engine, capsys):
    tasks.lab2(engine, build_=False)
    (up,) = engine.compose_commands("up")
    assert "--profile" not in up
    assert not any("prometheus" in c for c in engine.commands)
    out = capsys.readouterr().out
    assert "serving and proxy healthy" in out and "Prometheus" not in out


def test_down_stops_the_observe_profile_too(engine):
    tasks.down(engine, volumes=True)
    (down,) = engine.compose_commands("down")
    assert " --profile observe down --remove-orphans --volumes" in down


def test_a_taken_prometheus_port_is_one_line(engine, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("PROMETHEUS_PORT", str(taken.getsockname()[1]))
        with pytest.raises(Exit) as caught:
            tasks.lab2(engine, build_=False, observe=True)
    message = caught.value.message
    assert message.count("\n") == 0 and "set PROMETHEUS_PORT" in message
    assert engine.compose_commands("up") == []  # nothing was started


def test_prometheus_port_is_read_as_compose_reads_it(monkeypatch, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("PROMETHEUS_PORT=9191\n")
    monkeypatch.setattr(settings_module, "DOTENV", dotenv)
    monkeypatch.delenv("PROMETHEUS_PORT", raising=False)
    assert Settings.from_env().prometheus_port == 9191  # the root's .env
    monkeypatch.setenv("PROMETHEUS_PORT", "9292")
    assert Settings.from_env().prometheus_port == 9292  # the shell's wins
    dotenv.unlink()
    monkeypatch.delenv("PROMETHEUS_PORT")
    assert Settings.from_env().prometheus_port == 9090  # compose.yaml's default
    # invoke's configuration sets it too (under the environment).
    assert Settings.from_config({"prometheus_port": 9393}).prometheus_port == 9393


def test_the_tasks_hand_compose_the_prometheus_port():
    settings = Settings.from_env({"PROMETHEUS_PORT": "9191"})
    assert docker.compose_env(settings)["PROMETHEUS_PORT"] == "9191"
    assert stack.prometheus_url(settings) == "http://localhost:9191"
    assert stack.prometheus_alerts_url(settings) == "http://localhost:9191/classic/alerts"


def test_the_audit_expects_prometheus_on_the_settings_port(monkeypatch):
    settings = Settings.from_env({"PROMETHEUS_PORT": "9191"})
    bindings = {"9090/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9191"}]}
    monkeypatch.setattr(stack, "container_id", lambda c, s, service, all_states=False: service)
    monkeypatch.setattr(docker, "inspect", lambda c, target, template: "false")
    monkeypatch.setattr(
        audit, "_inspect", lambda c, container: {"HostConfig": {"PortBindings": bindings}}
    )
    rows = audit.network_rows(MockContext(), settings, [PROMETHEUS])
    (row,) = [row for row in rows if row.check == "prometheus: published ports"]
    assert (row.expected, row.found) == ("['127.0.0.1:9191']", "['127.0.0.1:9191']")


@pytest.mark.parametrize("value", ["nine", "0", "70000"])
def test_a_bad_prometheus_port_is_one_line(engine, monkeypatch, value):
    monkeypatch.setenv("PROMETHEUS_PORT", value)
    with pytest.raises(Exit, match=f"PROMETHEUS_PORT='{value}' is not a port number"):
        tasks.lab2(engine, build_=False, observe=True)


@pytest.mark.parametrize(
    ("options", "built"),
    [
        ({}, ["training", "serving", "proxy"]),
        ({"observe": True}, ["training", "serving", "prometheus", "proxy"]),
        ({"service": "prometheus"}, ["prometheus"]),
    ],
)
def test_build_takes_prometheus_only_when_asked(engine, monkeypatch, options, built):
    def services(c, settings, files=(docker.COMPOSE_FILE,), profiles=()):
        # In Compose's order: the dependencies first.
        observed = ["training", "serving", "prometheus", "proxy"]
        return observed if profiles else [s for s in observed if s != "prometheus"]

    monkeypatch.setattr(docker, "services", services)
    monkeypatch.setattr(base_image, "resolve", lambda c, settings, pull=False: "py:3.11")
    tasks.build(engine, **options)
    assert [c.rsplit(" ", 1)[1] for c in engine.compose_commands("build")] == built
