"""Shared fixtures: a trained model, signing keys, temporary registries, and the Docker gate."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from app import create_app
from app.model_store import get_store
from labctl import docker as engine
from model_registry import ensure_key, load_trusted_keys, publish
from model_registry.format import SIGNATURE_FILE, sha256_file
from model_registry.signing import SigningKey, create_key, sign
from training.export_onnx import export_onnx, prove_equal, typed_tensors
from training.settings import TrainingSettings
from training.train import metadata_fields, train

NAME = "iris-classifier"
# The files of the session's keys folder, named as in the images (see signing.py).
SIGNING_KEY_FILE = "signing-key.pem"
TRUSTED_DIR = "trusted-keys"


def in_ci() -> bool:
    """CI=true: a Docker test that cannot reach the engine fails instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory) -> Path:
    """The session's keys folder: the private key and the trusted-keys folder inside it."""
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def signing_key(keys_dir) -> SigningKey:
    """The key the test session signs with, as training makes it on first use."""
    key, made = ensure_key(keys_dir / SIGNING_KEY_FILE, keys_dir / TRUSTED_DIR)
    assert made
    return key


@pytest.fixture(scope="session")
def trusted_dir(keys_dir, signing_key) -> Path:
    """The trusted-keys folder holding the session key's public half (readers' view).

    Shared by the whole session: a test that rotates or removes keys makes its own.
    """
    return keys_dir / TRUSTED_DIR


@pytest.fixture
def trusted(trusted_dir):
    """The trusted keys, as readers load them: {key id: public key}."""
    return load_trusted_keys(trusted_dir)


@pytest.fixture
def untrusted_key(tmp_path) -> SigningKey:
    """A well-formed signing key whose public half no reader trusts (an attacker's)."""
    return create_key(tmp_path / "attacker" / SIGNING_KEY_FILE, tmp_path / "attacker" / "pub")


@pytest.fixture(autouse=True)
def _session_keys_in_the_environment(request, monkeypatch, keys_dir, trusted_dir):
    """MODEL_SIGNING_KEY / MODEL_TRUSTED_KEYS name the session's keys for every unit test.

    Without this, `training.main()` (and its subprocesses) would make a key at the
    images' default /signing/signing-key.pem on this machine. Docker tests keep the
    environment as a user has it.
    """
    if request.node.get_closest_marker("docker") is None:
        monkeypatch.setenv("MODEL_SIGNING_KEY", str(keys_dir / SIGNING_KEY_FILE))
        monkeypatch.setenv("MODEL_TRUSTED_KEYS", str(trusted_dir))


@pytest.fixture(scope="session")
def settings_for_tests(tmp_path_factory, keys_dir) -> TrainingSettings:
    """Training settings pointing at a throw-away registry and the session's keys."""
    return TrainingSettings(
        registry=tmp_path_factory.mktemp("registry"),
        model_name=NAME,
        model_type="logreg",
        seed=42,
        test_size=0.25,
        publish=True,
        signing_key=keys_dir / SIGNING_KEY_FILE,
        trusted_keys=keys_dir / TRUSTED_DIR,
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
def onnx_proof(trained, onnx_graph) -> dict:
    """The proof, made as training makes it, that onnx_graph answers as the pipeline does."""
    pipeline, dataset, _ = trained
    return prove_equal(pipeline, onnx_graph, len(dataset.feature_names))


def _training_fields(settings, trained, proof: dict, graph: bytes) -> dict:
    """Every metadata field training gives publish (the proof, skl2onnx and the typed
    tensors included)."""
    import skl2onnx

    _, dataset, report = trained
    fields = metadata_fields(settings, dataset, report)
    fields["framework"]["skl2onnx"] = skl2onnx.__version__
    fields["onnx_proof"] = proof
    fields["signature"]["tensors"] = typed_tensors(graph)
    return fields


@pytest.fixture
def fields(trained, settings_for_tests, onnx_proof, onnx_graph) -> dict:
    """The metadata fields training publishes the session's pipeline with (a fresh copy)."""
    return _training_fields(settings_for_tests, trained, onnx_proof, onnx_graph)


@pytest.fixture(scope="session")
def publish_as_training(trained, settings_for_tests, signing_key, onnx_graph, onnx_proof):
    """publish_as_training(root, model=None, key=None, name=NAME) -> Published.

    Publishes as training does: the ONNX graph of the model (the session's pipeline
    unless given) with the proof it answers as the model does, report.json beside it,
    signed by key (the session's unless given).
    """
    pipeline, dataset, _ = trained
    n_features = len(dataset.feature_names)

    def _publish(root: Path, *, model=None, key: SigningKey | None = None, name: str = NAME):
        if model is None:
            model, graph, proof = pipeline, onnx_graph, onnx_proof
        else:
            graph = export_onnx(model, n_features)
            proof = prove_equal(model, graph, n_features)
        fields = _training_fields(settings_for_tests, trained, proof, graph)
        return publish(
            root,
            name,
            model,
            fields,
            onnx_model=graph,
            signing_key=key or signing_key,
            extra_files={"report.json": json.dumps(fields, indent=2) + "\n"},
        )

    return _publish


@pytest.fixture(scope="session")
def resign(signing_key):
    """resign(version_dir, key=None, name=NAME, version=None): sign a version's files as
    they are now (what only a holder of the private key can do)."""

    def _resign(
        directory: Path,
        key: SigningKey | None = None,
        name: str = NAME,
        version: str | None = None,
    ) -> None:
        files = {
            path.name: sha256_file(path)
            for path in Path(directory).iterdir()
            if path.is_file() and path.name != SIGNATURE_FILE
        }
        document = sign(key or signing_key, name, version or Path(directory).name, files)
        (Path(directory) / SIGNATURE_FILE).write_text(json.dumps(document, indent=2) + "\n")

    return _resign


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skip (locally) or fail (CI) when no Docker engine answers."""
    try:
        result = subprocess.run(
            engine.argv("version", "--format", "{{.Server.Version}}"),
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


# The serving app on a registry with v1 published, for every test of the app.
@pytest.fixture
def publish_next(tmp_path, publish_as_training):
    """Publish the next version into tmp_path, as training does (signed, with model.onnx)."""

    def _publish(**options):
        return publish_as_training(tmp_path, **options)

    return _publish


@pytest.fixture
def registry(tmp_path, publish_next):
    """A registry with v1 published."""
    publish_next()
    return tmp_path


@pytest.fixture
def make_app(registry, trusted_dir):
    """Build the app on that registry, with settings overridden (max_batch=5, ...);
    every model store it started is stopped after the test."""
    stores = []

    def _make(**overrides):
        config = {"registry": registry, "trusted_keys": trusted_dir, "reload_interval_s": 0}
        app = create_app({**config, **overrides})
        stores.append(get_store(app))  # a test may swap the extension for a fake later
        return app

    yield _make
    for store in stores:
        store.stop()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()
