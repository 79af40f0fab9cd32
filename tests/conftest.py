"""Shared fixtures: a trained model, temporary registries, and the Docker gate."""

from __future__ import annotations

import os
import subprocess

import pytest

from training.cli import train
from training.export_onnx import export_onnx
from training.settings import TrainingSettings


def in_ci() -> bool:
    """CI=true: a Docker test that cannot reach the engine fails instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def settings_for_tests(tmp_path_factory) -> TrainingSettings:
    """Training settings pointing at a throw-away registry."""
    return TrainingSettings(
        registry=tmp_path_factory.mktemp("registry"),
        model_name="iris-classifier",
        model_type="logreg",
        seed=42,
        test_size=0.25,
        publish=True,
    )


@pytest.fixture(scope="session")
def trained(settings_for_tests):
    """(pipeline, dataset, report) of one training run, shared by the tests that only read it."""
    return train(settings_for_tests)


@pytest.fixture(scope="session")
def onnx_graph(trained) -> bytes:
    """The trained pipeline exported as ONNX, as training publishes it."""
    pipeline, dataset, _ = trained
    return export_onnx(pipeline, len(dataset.feature_names))


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skip (locally) or fail (CI) when no Docker engine answers."""
    try:
        result = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        problem = None if result.returncode == 0 else (result.stderr.strip() or "no answer")
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = str(exc)
    if problem:
        message = f"Docker engine not reachable: {problem.splitlines()[0]}"
        if in_ci():
            pytest.fail(message + " (CI=true: Docker tests never skip)")
        pytest.skip(message)
