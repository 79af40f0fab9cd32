"""Fixtures of the Docker tests: the images, built once per session exactly as `inv build` does."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import replace

import pytest

from labctl.settings import ROOT, Settings
from labctl.stack import free_port, volume_name

# Every Compose project a test creates starts with this, so leftovers of an earlier,
# killed run can be found and removed (restart policies bring them back with dockerd).
TEST_PROJECT_PREFIX = "labs-test-"


def run_invoke(*args: str, cwd=ROOT, env: dict | None = None, timeout: int = 1800):
    """Run `inv ARGS` in a subprocess (as a user would) and return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=cwd,
        env={**os.environ, "CI": "true", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def docker(*args: str, timeout: int = 300, check: bool = True) -> subprocess.CompletedProcess:
    """Run one docker command and return its CompletedProcess."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed:\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def images(docker_engine) -> Settings:
    """Build every image with `inv build`; the settings name them."""
    result = run_invoke("build")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return Settings.from_env()


def remove_test_projects() -> None:
    """Remove stacks, containers, networks and volumes left by earlier test runs."""
    stacks = docker("stack", "ls", "--format", "{{.Name}}", check=False).stdout.split()
    for stack in stacks:
        if stack.startswith(TEST_PROJECT_PREFIX):
            run_invoke("swarm-down", "--name", stack)
    label = "label=com.docker.compose.project"
    for kind in ("container", "network", "volume"):
        listed = docker(kind, "ls", "-q", *(["--all"] if kind == "container" else []),
                        "--filter", label, check=False)  # fmt: skip
        for identifier in listed.stdout.split():
            project = docker(
                kind, "inspect", "-f",
                '{{index .Config.Labels "com.docker.compose.project"}}' if kind == "container"
                else '{{index .Labels "com.docker.compose.project"}}',
                identifier, check=False,
            ).stdout.strip()  # fmt: skip
            if project.startswith(TEST_PROJECT_PREFIX):
                docker(kind, "rm", *(["--force"] if kind != "network" else []), identifier,
                       check=False)  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def _no_leftovers_from_earlier_runs(request):
    """Before the Docker tests: clear what an earlier killed run may have left."""
    if any(item.get_closest_marker("docker") for item in request.session.items):
        request.getfixturevalue("docker_engine")
        remove_test_projects()


class Lab2:
    """A Lab 2 stack of the tests: own Compose project name, own free port."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.env = {
            "LAB2_PROJECT": settings.compose_project,
            "LAB2_PORT": str(settings.lab2_port),
        }
        self.url = f"http://localhost:{settings.lab2_port}"

    def inv(self, *args: str, timeout: int = 600):
        return run_invoke(*args, env=self.env, timeout=timeout)

    def get_json(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def served_version(self) -> str:
        return self.get_json("/readyz")["model"]["version"]

    def metrics(self) -> str:
        """serving's /metrics, read from inside the stack as `inv metrics` does."""
        result = self.inv("metrics", timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def exec(self, service: str, *command: str, user: str = "", check: bool = True):
        """docker exec into a service's container."""
        return docker("exec", *(["--user", user] if user else []), self.container(service),
                      *command, check=check)  # fmt: skip

    def registry_shell(self, script: str, check: bool = True):
        """Run a shell script as root with the registry volume mounted read-write (and the
        trusted keys read-only, for `python -m model_registry verify`)."""
        registry = f"{volume_name(self.settings)}:/registry"
        trusted = f"{volume_name(self.settings, 'trusted-keys')}:/trusted-keys:ro"
        volumes = ["-v", registry, "-v", trusted]
        command = ["--entrypoint", "sh", self.settings.image("training"), "-c", script]
        return docker(
            "run", "--rm", "--network", "none", "--user", "0", *volumes, *command, check=check
        )

    def container(self, service: str) -> str:
        result = docker(
            "ps", "-q", "--all",
            "--filter", f"label=com.docker.compose.project={self.settings.compose_project}",
            "--filter", f"label=com.docker.compose.service={service}",
        )  # fmt: skip
        return result.stdout.split()[0]


@contextlib.contextmanager
def running_stack(images: Settings, name: str, *extra_args: str):
    """`inv lab2` on a free port under a test project name; `inv down --volumes` after."""
    settings = replace(
        images,
        compose_project=f"{TEST_PROJECT_PREFIX}{name}-{uuid.uuid4().hex[:6]}",
        lab2_port=free_port(),
    )
    stack = Lab2(settings)
    result = stack.inv("lab2", "--no-build", *extra_args)
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        yield stack
    finally:
        stack.inv("down", "--volumes")


@pytest.fixture(scope="session")
def lab2(images):
    """The Lab 2 stack the read-only tests share (no test may change it)."""
    with running_stack(images, "lab2") as stack:
        yield stack


@pytest.fixture(scope="module")
def own_stack(images, request):
    """A Lab 2 stack for one test module, which may break and mend it."""
    with running_stack(
        images, request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")
    ) as stack:
        yield stack
