"""What both Python images promise: every module a start imports comes from a valid .pyc."""

from __future__ import annotations

import json

import pytest

from labctl.settings import ROOT
from tests.docker.conftest import docker

pytestmark = pytest.mark.docker

PROBE = (ROOT / "labctl" / "probes" / "bytecode.py").read_text()


def _missing(result) -> dict:
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["checked"] > 300  # the probe really started the program
    return report["missing"]


def test_serving_starts_from_bytecode_only(lab2):
    """In the running serving container: read-only root, the real registry and model."""
    command = ["env", "PROMETHEUS_MULTIPROC_DIR=/tmp/bytecode-probe", "python", "-c", PROBE]
    result = lab2.exec("serving", *command, "serving", check=False)
    assert _missing(result) == {}


def test_a_training_run_starts_from_bytecode_only(images):
    options = ["--rm", "--read-only", "--tmpfs", "/tmp", "--entrypoint", "python"]
    command = [images.image("training"), "-c", PROBE, "training"]
    result = docker("run", *options, *command, check=False)
    assert _missing(result) == {}
