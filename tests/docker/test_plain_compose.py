"""`docker compose up --build` at the repo root runs Lab 2, hardened, with no invoke at all."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request

import pytest

from labctl import docker as engine
from labctl.settings import ROOT
from labctl.stack import free_port
from tests.compose_file import service_names
from tests.docker.conftest import docker, project_name

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def plain_stack(images):
    """The stack as README's plain-Compose line starts it, with only documented variables."""
    project = project_name("plain")
    port = free_port()
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": project,
        "LAB2_PORT": str(port),
        "LABS_IMAGE_PREFIX": project,
        # What `inv build` resolved here: python:3.11-slim, or on an air-gapped
        # machine the local base (README's one documented line).
        "PYTHON_IMAGE": images.python_image or _resolved_base(images),
    }

    def run(*args, timeout=900):
        return subprocess.run(
            engine.plain_compose_argv(*args),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    up = run("up", "--build", "--detach", "--wait", "--wait-timeout", "180")
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        yield project, port
    finally:
        run("down", "--volumes", "--rmi", "all", timeout=300)


def _resolved_base(images) -> str:
    present = docker("image", "inspect", images.official_python_image, check=False)
    return images.official_python_image if present.returncode == 0 else images.local_python_image


def test_it_answers_a_prediction(plain_stack):
    _, port = plain_stack
    request = urllib.request.Request(
        f"http://localhost:{port}/predict",
        data=json.dumps({"instances": [[6.3, 3.3, 6.0, 2.5]]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["predictions"][0]["class_name"] == "virginica"
    assert answer["model"]["version"] == "v1"


@pytest.mark.parametrize("service", service_names())
def test_it_is_as_hardened_as_inv_lab2(plain_stack, service):
    project, _ = plain_stack
    container = docker(
        "ps",
        "-q",
        "--all",
        "--filter",
        f"label=com.docker.compose.project={project}",
        "--filter",
        f"label=com.docker.compose.service={service}",
    ).stdout.split()[0]
    config = json.loads(docker("inspect", container).stdout)[0]
    assert config["Config"]["User"] == "10001:10001"
    assert config["HostConfig"]["ReadonlyRootfs"] is True
    assert config["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in config["HostConfig"]["SecurityOpt"]
    assert config["HostConfig"]["Memory"] > 0 and config["HostConfig"]["PidsLimit"] > 0
