"""Fixtures of the Docker tests: the images, built once per session exactly as `inv build` does."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from labctl.settings import ROOT, Settings


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
