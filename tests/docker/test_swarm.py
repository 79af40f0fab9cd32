"""Lab 2 on a single-node Docker Swarm: a training job, two serving replicas, the proxy."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.docker.conftest import docker, free_port, project_name, run_invoke
from tests.docker.load import Load

pytestmark = pytest.mark.docker


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def swarm_stack(images):
    joined = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip() == "active"
    name = project_name("swarm")
    port = free_port()
    result = run_invoke("swarm-up", "--init", "--name", name, "--port", str(port), timeout=600)
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        yield name, f"http://localhost:{port}"
    finally:
        down = ["swarm-down", "--name", name] + ([] if joined else ["--leave"])
        assert run_invoke(*down).returncode == 0


def test_the_stack_converges_with_two_serving_replicas(swarm_stack):
    name, url = swarm_stack
    replicas = docker(
        "service",
        "ls",
        "--filter",
        f"label=com.docker.stack.namespace={name}",
        "--format",
        "{{.Name}} {{.Mode}} {{.Replicas}}",
    ).stdout
    rows = {line.split()[0]: line.split(" ", 1)[1] for line in replicas.splitlines()}
    assert rows[f"{name}_serving"].startswith("replicated 2/2")
    assert rows[f"{name}_proxy"].startswith("replicated 1/1")
    assert rows[f"{name}_training"] == "replicated job 0/1 (1/1 completed)"
    instances = {get_json(f"{url}/readyz")["instance"] for _ in range(40)}
    assert len(instances) == 2, instances


def test_predictions_through_the_published_port(swarm_stack):
    _, url = swarm_stack
    result = run_invoke("smoke", "--url", url)
    assert result.returncode == 0, result.stdout


def test_rolling_update_under_load_fails_no_request(swarm_stack):
    name, url = swarm_stack
    before = set(
        docker(
            "service", "ps", "-q", "--filter", "desired-state=running", f"{name}_serving"
        ).stdout.split()
    )
    with Load(url, threads=4) as results:
        time.sleep(2)
        update = docker(
            "service", "update", "--force", "--detach=false", f"{name}_serving", check=False
        )
        time.sleep(2)
    assert update.returncode == 0, update.stderr
    after = set(
        docker(
            "service", "ps", "-q", "--filter", "desired-state=running", f"{name}_serving"
        ).stdout.split()
    )
    assert len(after) == 2 and not before & after  # every replica was replaced
    assert results.total > 200
    assert results.failed == 0, (results.statuses, results.errors[:5])


def test_update_config_is_health_gated_start_first_with_rollback(swarm_stack):
    name, _ = swarm_stack
    spec = json.loads(docker("service", "inspect", f"{name}_serving").stdout)[0]["Spec"]
    update = spec["UpdateConfig"]
    assert (update["Order"], update["FailureAction"]) == ("start-first", "rollback")
    assert spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Test"][-1].endswith(
        "/readyz', timeout=2)"
    )
    container = spec["TaskTemplate"]["ContainerSpec"]
    assert container["User"] == "10001:10001" and container["ReadOnly"] is True
    assert container["CapabilityDrop"] == ["ALL"]
    mounts = {m["Target"]: m for m in container["Mounts"]}
    assert mounts["/registry"]["ReadOnly"] is True and mounts["/tmp"]["Type"] == "tmpfs"


def test_teardown_leaves_nothing_behind(images):
    name = project_name("swarm-down")
    joined = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip() == "active"
    up = run_invoke("swarm-up", "--init", "--name", name, "--port", str(free_port()), timeout=600)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    down = run_invoke("swarm-down", "--name", name, *([] if joined else ["--leave"]))
    assert down.returncode == 0
    label = f"label=com.docker.stack.namespace={name}"
    for kind in (["service", "ls"], ["ps", "-a"], ["network", "ls"], ["config", "ls"]):
        if kind[0] in ("service", "config") and not joined:
            continue  # the Swarm itself is gone
        assert docker(*kind, "-q", "--filter", label, check=False).stdout.strip() == "", kind
    assert docker("volume", "ls", "-q", "--filter", f"name={name}_").stdout.strip() == ""
