"""The Swarm stack definition (labctl/swarm.py), made from the Compose files without an
engine: what Swarm refuses is dropped, and a run-once service becomes a job."""

from __future__ import annotations

import pytest
from invoke import Context

from labctl import swarm
from labctl.settings import Settings


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings.from_env({})


def test_what_swarm_does_not_know_is_dropped(settings):
    stack = swarm.definition(Context(), settings)
    assert set(stack) == {"services", "networks", "volumes", "configs"}
    for name, service in stack["services"].items():
        assert not set(swarm.NOT_FOR_SWARM) & set(service), name
        assert None not in service.values(), name
    assert stack["services"]["training"]["deploy"]["mode"] == "replicated-job"
    assert stack["services"]["serving"]["deploy"]["replicas"] == 2


def test_without_the_mesh_every_server_is_found_by_dns_and_publishes_on_the_node(settings):
    services = swarm.definition(Context(), settings, mesh=False)["services"]
    assert services["proxy"]["ports"][0]["mode"] == "host"
    assert services["serving"]["deploy"]["endpoint_mode"] == "dnsrr"
    assert "endpoint_mode" not in services["training"]["deploy"]  # a job has no endpoint


def test_a_run_once_service_becomes_a_job_that_is_never_restarted(settings, tmp_path, monkeypatch):
    """A fourth service declared like training (restart: "no") needs no Swarm YAML."""
    extra = tmp_path / "fourth.yaml"
    extra.write_text(
        "services:\n"
        "  fourth:\n"
        "    image: example/fourth\n"
        '    restart: "no"\n'
        "    deploy: {resources: {limits: {cpus: '0.5', memory: 64M}}}\n"
    )
    monkeypatch.setattr(swarm, "FILES", (*swarm.FILES, str(extra)))
    fourth = swarm.definition(Context(), settings)["services"]["fourth"]
    assert fourth["deploy"]["mode"] == "replicated-job"
    assert fourth["deploy"]["restart_policy"] == {"condition": "none"}
    assert "restart" not in fourth


def test_the_proxys_own_network_settings_reach_the_stack(settings):
    """nginx opens a fresh connection per request on Swarm too (backend-swarm.conf): its
    TIME_WAIT ports must stay reusable there (compose.yaml's sysctls)."""
    sysctls = swarm.definition(Context(), settings)["services"]["proxy"]["sysctls"]
    assert {key: str(value) for key, value in sysctls.items()} == {
        "net.ipv4.tcp_tw_reuse": "1",
        "net.ipv4.ip_local_port_range": "1024 65535",
    }
