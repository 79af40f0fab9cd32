"""Lab 2 on a real engine: inv lab2, smoke, train (hot swap), hardening, down."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from labctl.stack import volume_name
from tests.docker.conftest import docker, free_port, project_name, run_invoke

pytestmark = pytest.mark.docker


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_lab2_prints_the_url_and_model(lab2):
    model = get_json(f"{lab2.url}/readyz")["model"]
    assert model["version"] == "v1"
    # The trimmed ONNX Runtime of the image loads, and the graph proved equal.
    assert model["runtime"] == "onnxruntime"


def test_serving_logs_no_error_or_warning(lab2):
    """Start-up and serving are quiet: JSON lines and gunicorn's INFO lines, nothing else."""
    logs = (
        docker("logs", lab2.container("serving")).stdout
        + docker("logs", lab2.container("serving")).stderr
    )
    assert "model loaded" in logs
    problems = []
    for line in logs.splitlines():
        if line.startswith("{"):
            if json.loads(line)["level"] not in ("info", "debug"):
                problems.append(line)
        elif "[INFO]" not in line:
            problems.append(line)  # gunicorn [ERROR]/[WARNING], a native library's warning
    assert problems == []


def test_smoke_passes(lab2):
    result = lab2.inv("smoke")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(lines) == 10 and all(line.startswith("PASS") for line in lines), result.stdout


def test_smoke_against_nothing_is_one_line():
    url = f"http://127.0.0.1:{free_port()}"
    result = run_invoke("smoke", "--url", url)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        f"nothing answers on {url} ([Errno 111] Connection refused): "
        "run 'inv lab2', or 'inv smoke --url URL'"
    ]
    assert result.stdout == ""


def test_train_publishes_a_new_version_every_worker_serves_without_restart(own_stack):
    """On a stack of its own: the shared one must not change under the other tests."""
    serving = own_stack.container("serving")
    started = docker("inspect", "-f", "{{.State.StartedAt}} {{.RestartCount}}", serving).stdout
    before = get_json(f"{own_stack.url}/model")["version"]
    result = own_stack.inv("train", "--model", "knn")
    assert result.returncode == 0, result.stdout + result.stderr
    after = get_json(f"{own_stack.url}/model")
    assert int(after["version"][1:]) == int(before[1:]) + 1
    assert after["model_type"] == "knn"
    assert "serves it (no restart)" in result.stdout
    # `inv train` returned once every worker served it: no second look needed.
    assert set(own_stack.worker_versions().values()) == {after["version"]}
    assert (
        docker("inspect", "-f", "{{.State.StartedAt}} {{.RestartCount}}", serving).stdout == started
    )


def _inspect(container: str) -> dict:
    return json.loads(docker("inspect", container).stdout)[0]


LIMITS = {  # service: (CPUs, memory, pids, restart policy)
    "training": (1.0, 512 * 2**20, 64, "no"),
    "serving": (1.5, 512 * 2**20, 128, "unless-stopped"),
    "proxy": (0.5, 64 * 2**20, 64, "unless-stopped"),
}


@pytest.mark.parametrize("service", sorted(LIMITS))
def test_containers_are_hardened_as_configured(lab2, service):
    info = _inspect(lab2.container(service))
    host = info["HostConfig"]
    cpus, memory, pids, restart = LIMITS[service]
    assert info["Config"]["User"] == "10001:10001"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert (host["NanoCpus"], host["Memory"], host["PidsLimit"]) == (cpus * 1e9, memory, pids)
    assert host["RestartPolicy"]["Name"] == restart


@pytest.mark.parametrize(("service", "writable"), [("training", True), ("serving", False)])
def test_registry_volume_is_read_only_for_serving(lab2, service, writable):
    mounts = _inspect(lab2.container(service))["Mounts"]
    registry = next(m for m in mounts if m["Destination"] == "/registry")
    assert registry["Type"] == "volume" and registry["Name"].endswith("_model-registry")
    assert registry["RW"] is writable


def test_networks_isolate_training_and_serving(lab2):
    project = lab2.settings.compose_project

    def internal(name):
        return docker(
            "network", "inspect", "-f", "{{.Internal}}", f"{project}_{name}"
        ).stdout.strip()

    assert (internal("training"), internal("backend"), internal("frontend")) == (
        "true",
        "true",
        "false",
    )
    networks = {
        service: set(_inspect(lab2.container(service))["NetworkSettings"]["Networks"])
        for service in LIMITS
    }
    assert networks == {
        "training": {f"{project}_training"},
        "serving": {f"{project}_backend"},
        "proxy": {f"{project}_backend", f"{project}_frontend"},
    }


def test_only_the_proxy_publishes_a_port_on_loopback(lab2):
    bindings = {s: _inspect(lab2.container(s))["HostConfig"]["PortBindings"] for s in LIMITS}
    assert not bindings["training"] and not bindings["serving"]
    assert bindings["proxy"] == {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(lab2.settings.lab2_port)}]
    }


@pytest.mark.parametrize("service", ["serving", "proxy"])
def test_healthchecks_report_healthy(lab2, service):
    assert _inspect(lab2.container(service))["State"]["Health"]["Status"] == "healthy"


def test_port_in_use_is_one_readable_line(images):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        project = project_name("port-taken")
        result = run_invoke(
            "lab2", "--no-build", "--port", str(port), env={"LAB2_PROJECT": project}
        )
    assert result.returncode == 1
    assert f"port {port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert (
        docker(
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project}",
        ).stdout
        == ""
    )


def test_down_keeps_the_registry_unless_asked(images):
    from tests.docker.conftest import Lab2

    project = project_name("down")
    stack = Lab2(
        images.__class__(
            **{**images.__dict__, "compose_project": project, "lab2_port": free_port()}
        )
    )
    assert stack.inv("lab2", "--no-build").returncode == 0
    volume = volume_name(stack.settings)
    assert stack.inv("down").returncode == 0
    assert (
        docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout == ""
    )
    assert docker("volume", "inspect", volume, check=False).returncode == 0
    # Up again on the kept registry: training publishes v2 next to v1.
    assert stack.inv("lab2", "--no-build").returncode == 0
    assert get_json(f"{stack.url}/model")["version"] == "v2"
    assert stack.inv("down", "--volumes").returncode == 0
    assert docker("volume", "inspect", volume, check=False).returncode != 0
