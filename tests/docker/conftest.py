"""Fixtures of the Docker tests: the images, built once per session exactly as `inv build` does."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import replace

import pytest

from labctl import docker as engine
from labctl.settings import ROOT, Settings
from labctl.stack import free_port, parse_worker_versions, volume_name

# Every Compose project, Swarm stack and image prefix a test creates starts with this,
# then the pid of the test run that made it: leftovers of an earlier, killed run can
# be found and removed (restart policies bring them back with dockerd), and a run going
# on at the same time on the same engine is left alone.
TEST_PROJECT_PREFIX = "labs-test-"
RUN_PREFIX = f"{TEST_PROJECT_PREFIX}{os.getpid()}-"


def project_name(name: str) -> str:
    """A name of this run's own, unique: labs-test-<pid>-<name>-<random>."""
    return f"{RUN_PREFIX}{name}-{uuid.uuid4().hex[:6]}"


def left_behind(project: str) -> bool:
    """Whether a test project belongs to a run that is over (its process is gone)."""
    if not project.startswith(TEST_PROJECT_PREFIX):
        return False
    owner = project[len(TEST_PROJECT_PREFIX) :].split("-", 1)[0]
    if not owner.isdigit():
        return True  # made before names carried their run's pid
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@functools.cache
def compose_services() -> list[str]:
    """The services of compose.yaml, from Compose itself: the one service list."""
    from invoke import Context

    from labctl import docker as engine

    return engine.services(Context(), Settings.from_env())


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


def docker(
    *args: str, timeout: int = 300, check: bool = True, input: bytes | None = None
) -> subprocess.CompletedProcess:
    """Run one docker command (argv from the engine module) and return its CompletedProcess;
    text, unless bytes are given as its stdin."""
    result = subprocess.run(
        engine.argv(*args),
        input=input,
        capture_output=True,
        text=input is None,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed:\n{result.stderr}")
    return result


def docker_process(*args: str, **popen) -> subprocess.Popen:
    """Start one docker command in the background (a load, a client held half-way)."""
    return subprocess.Popen(engine.argv(*args), **popen)


@pytest.fixture(scope="session")
def images(docker_engine) -> Settings:
    """Build every image with `inv build`; the settings name them."""
    result = run_invoke("build")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return Settings.from_env()


def remove_test_projects() -> None:
    """Remove stacks, containers, networks and volumes left by test runs that are over."""
    stacks = docker("stack", "ls", "--format", "{{.Name}}", check=False).stdout.split()
    for stack in stacks:
        if left_behind(stack):
            run_invoke("swarm-down", "--name", stack)
    label = "label=com.docker.compose.project"
    for kind in ("container", "network", "volume"):
        listed = docker(
            kind,
            "ls",
            "-q",
            *(["--all"] if kind == "container" else []),
            "--filter",
            label,
            check=False,
        )
        for identifier in listed.stdout.split():
            project = docker(
                kind,
                "inspect",
                "-f",
                '{{index .Config.Labels "com.docker.compose.project"}}'
                if kind == "container"
                else '{{index .Labels "com.docker.compose.project"}}',
                identifier,
                check=False,
            ).stdout.strip()
            if left_behind(project):
                docker(
                    kind, "rm", *(["--force"] if kind != "network" else []), identifier, check=False
                )


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

    def worker_versions(self) -> dict[int, str]:
        """Each live gunicorn worker's pid -> the version it serves."""
        return parse_worker_versions(self.metrics())

    def wait_all_workers(self, version: str, timeout_s: float = 30) -> dict[int, str]:
        """Until every worker serves version (each watches LATEST on its own)."""
        deadline = time.monotonic() + timeout_s
        while True:
            versions = self.worker_versions()
            if versions and set(versions.values()) == {version}:
                return versions
            assert time.monotonic() < deadline, f"workers serve {versions}, not all {version}"
            time.sleep(0.3)

    def metrics(self) -> str:
        """serving's /metrics, read from inside the stack as `inv metrics` does."""
        result = self.inv("metrics", timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def exec(self, service: str, *command: str, user: str = "", check: bool = True):
        """docker exec into a service's container."""
        return docker(
            "exec",
            *(["--user", user] if user else []),
            self.container(service),
            *command,
            check=check,
        )

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
            "ps",
            "-q",
            "--all",
            "--filter",
            f"label=com.docker.compose.project={self.settings.compose_project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        )
        return result.stdout.split()[0]


@contextlib.contextmanager
def running_stack(images: Settings, name: str, *extra_args: str):
    """`inv lab2` on a free port under a project name of this run; `inv down --volumes`
    after. A free port can be taken by someone else before Compose binds it: then the
    stack is tried again on another one."""
    settings = replace(images, compose_project=project_name(name))
    for _ in range(3):
        settings = replace(settings, lab2_port=free_port())
        stack = Lab2(settings)
        result = stack.inv("lab2", "--no-build", *extra_args)
        if result.returncode == 0 or "already in use" not in result.stderr:
            break
        stack.inv("down", "--volumes")
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
