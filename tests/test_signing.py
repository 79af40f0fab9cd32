"""Signed versions: only bytes a trusted key signed are ever loaded, and no pickle is run.

The attacker of these tests can write the registry (a volume, an NFS export) but does
not hold the training service's private key.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import pickle
import re
import shutil
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from app import create_app, metrics
from app.inference import onnx_runner
from app.model_store import get_store
from model_registry import (
    RegistryError,
    load_pipeline,
    load_trusted_keys,
    load_verified,
    read_latest,
    set_latest,
    verify_version,
)
from model_registry.cli import main as registry_cli
from model_registry.format import sha256_file
from model_registry.signing import (
    KEY_MAX_BYTES,
    create_key,
    ensure_key,
    key_id,
    load_signing_key,
    sign,
    trust,
    verify,
)
from training.export_onnx import EQUAL_WITHIN, probe_rows
from training.model import build_pipeline

NAME = "iris-classifier"
SETOSA = [[5.1, 3.5, 1.4, 0.2]]
FILES = {"metadata.json": "a" * 64, "model.onnx": "b" * 64}


# ---------------------------------------------------------------- keys and documents


def test_a_new_key_is_private_to_its_owner_and_its_public_half_trusted(tmp_path):
    private_path, trusted_dir = tmp_path / "signing" / "signing-key.pem", tmp_path / "trusted"
    key, made = ensure_key(private_path, trusted_dir)
    assert made
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    public_file = trusted_dir / f"{key.key_id}.pub"
    assert stat.S_IMODE(public_file.stat().st_mode) == 0o644
    assert b"PRIVATE" not in public_file.read_bytes()
    assert [p.name for p in trusted_dir.iterdir()] == [public_file.name]
    assert key.key_id == key_id(key.public) and len(key.key_id) == 16
    assert set(load_trusted_keys(trusted_dir)) == {key.key_id}


def test_ensure_key_reuses_the_key_and_trusts_it_again(tmp_path):
    private_path, trusted_dir = tmp_path / "signing-key.pem", tmp_path / "trusted"
    first, _ = ensure_key(private_path, trusted_dir)
    pem = private_path.read_bytes()
    (trusted_dir / f"{first.key_id}.pub").unlink()
    again, made = ensure_key(private_path, trusted_dir)
    assert (made, again.key_id) == (False, first.key_id)
    assert private_path.read_bytes() == pem
    assert set(load_trusted_keys(trusted_dir)) == {first.key_id}


def test_concurrent_first_use_makes_one_key(tmp_path):
    """Trainers started together on a fresh install (as the concurrent publishers of
    test_registry.py are) all sign with the one key that ends up on disk."""
    for attempt in range(10):
        private_path = tmp_path / f"run{attempt}" / "signing-key.pem"
        trusted_dir = tmp_path / f"run{attempt}" / "trusted"
        barrier, results = threading.Barrier(4), []

        def first_use(
            private_path=private_path, trusted_dir=trusted_dir, barrier=barrier, results=results
        ):
            barrier.wait()
            try:
                results.append(ensure_key(private_path, trusted_dir)[0].key_id)
            except Exception as exc:  # reported below, with every thread's outcome
                results.append(exc)

        threads = [threading.Thread(target=first_use) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        on_disk = load_signing_key(private_path).key_id
        assert results == [on_disk] * 4, results
        assert set(load_trusted_keys(trusted_dir)) == {on_disk}


def test_a_missing_or_unreadable_signing_key_is_a_registry_error(tmp_path):
    with pytest.raises(RegistryError, match="no signing key at"):
        load_signing_key(tmp_path / "nothing.pem")
    (tmp_path / "garbage.pem").write_text("-----BEGIN PRIVATE KEY-----\nnope\n")
    with pytest.raises(RegistryError, match="unreadable signing key"):
        load_signing_key(tmp_path / "garbage.pem")


def _ec_public_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("misnamed", "is not named by its id"),
        ("garbage", "unreadable trusted key"),
        ("not ed25519", "is not an Ed25519 public key"),
        ("oversize", "larger than a key can be"),
        ("missing folder", "cannot read the trusted keys"),
    ],
)
def test_a_trusted_keys_folder_with_a_bad_key_is_refused_whole(
    tmp_path, signing_key, problem, message
):
    """A key file that is not what its name says is an error, never silently skipped."""
    folder = tmp_path / "trusted"
    trust(signing_key.public, folder)
    if problem == "misnamed":
        (folder / f"{signing_key.key_id}.pub").rename(folder / "0123456789abcdef.pub")
    elif problem == "garbage":
        (folder / "0123456789abcdef.pub").write_text("not a key")
    elif problem == "not ed25519":
        (folder / "0123456789abcdef.pub").write_bytes(_ec_public_pem())
    elif problem == "oversize":
        (folder / "0123456789abcdef.pub").write_bytes(b"x" * 5000)
    else:
        folder = tmp_path / "nowhere"
    with pytest.raises(RegistryError, match=message):
        load_trusted_keys(folder)


def test_files_beside_the_keys_are_ignored(tmp_path, signing_key):
    folder = tmp_path / "trusted"
    trust(signing_key.public, folder)
    (folder / "README").write_text("public keys of the training service\n")
    assert set(load_trusted_keys(folder)) == {signing_key.key_id}


def test_a_signature_verifies_for_its_own_name_version_and_files_only(signing_key, untrusted_key):
    trusted = {signing_key.key_id: signing_key.public}
    document = sign(signing_key, NAME, "v3", FILES)
    assert verify(document, trusted, NAME, "v3") == FILES
    with pytest.raises(RegistryError, match="names other files, model or version"):
        verify(document, trusted, NAME, "v4")
    with pytest.raises(RegistryError, match="names other files, model or version"):
        verify(document, trusted, "other-model", "v3")
    with pytest.raises(RegistryError, match="not trusted"):
        verify(sign(untrusted_key, NAME, "v3", FILES), trusted, NAME, "v3")


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # What a registry writer could edit in signature.json, and how it is caught.
        ({"files": {**FILES, "model.onnx": "c" * 64}}, "does not match"),
        ({"files": {**FILES, "extra.py": "c" * 64}}, "does not match"),
        ({"files": {"metadata.json": "a" * 64}}, "does not match"),
        ({"model": "other-model", "version": "v4"}, "does not match"),
        ({"signature": "flip"}, "does not match"),
        ({"signature": "not base64!"}, "does not match"),
        ({"signature": None}, "does not match"),
        ({"key_id": "other"}, "does not match"),
        ({"key_id": "0123456789abcdef"}, "not trusted"),
        ({"algorithm": "none"}, "not an Ed25519 signature we read"),
        ({"format": 2}, "not an Ed25519 signature we read"),
        ({"files": ["metadata.json"]}, "names other files"),
        ({"files": {"metadata.json": "short"}}, "names other files"),
    ],
)
def test_an_altered_signature_document_is_refused(signing_key, untrusted_key, change, message):
    # Two trusted keys: claiming the other one's id does not make its signature valid.
    other = untrusted_key
    trusted = {signing_key.key_id: signing_key.public, "other": other.public}
    document = sign(signing_key, NAME, "v3", FILES)
    if change.get("signature") == "flip":
        change = {"signature": _flip(document["signature"])}
    document.update(change)
    version = document["version"] if "version" in change else "v3"
    with pytest.raises(RegistryError, match=message):
        verify(document, trusted, document.get("model", NAME), version)


@pytest.mark.parametrize("document", [None, [], "signature", 5])
def test_a_signature_that_is_not_an_object_is_refused(signing_key, document):
    with pytest.raises(RegistryError, match="not an object"):
        verify(document, {signing_key.key_id: signing_key.public}, NAME, "v1")


# ---------------------------------------------------------------- attacks on a registry


@dataclass
class Scene:
    """A registry serving v1, and what an attacker (or a test) can reach."""

    root: Path
    publish: object  # publish_as_training
    resign: object
    attacker_key: object
    trusted_dir: Path
    # Another pipeline (kNN) of the same data: its graph is signed, but for another model.
    other_model: Pipeline

    @property
    def model_dir(self) -> Path:
        return self.root / NAME

    def point_latest_at(self, version: str) -> None:
        (self.model_dir / "LATEST").write_text(version + "\n")

    def copy_version(self, source: Path, version: str) -> Path:
        target = self.model_dir / version
        shutil.copytree(source, target)
        return target


def _unsigned(scene: Scene) -> None:
    (scene.publish(scene.root).path / "signature.json").unlink()


def _signed_by_an_untrusted_key(scene: Scene) -> None:
    scene.publish(scene.root, key=scene.attacker_key)


def _tampered_then_resigned_by_the_attacker(scene: Scene) -> None:
    path = scene.publish(scene.root).path
    metadata = json.loads((path / "metadata.json").read_text())
    metadata["metrics"]["accuracy"] = 1.0
    (path / "metadata.json").write_text(json.dumps(metadata))
    scene.resign(path, key=scene.attacker_key)


def _replayed_as_v2(scene: Scene) -> None:
    scene.copy_version(scene.model_dir / "v1", "v2")
    scene.point_latest_at("v2")


def _replayed_from_another_model(scene: Scene) -> None:
    other = scene.publish(scene.root, name="other-model")
    scene.publish(scene.root, name="other-model")
    scene.copy_version(other.path.parent / "v2", "v2")
    scene.point_latest_at("v2")


def _tampered(file: str):
    def attack(scene: Scene) -> None:
        path = scene.publish(scene.root).path / file
        content = bytearray(path.read_bytes())
        content[len(content) // 2] ^= 0x01
        path.write_bytes(bytes(content))

    return attack


def _signature_bytes_flipped(scene: Scene) -> None:
    path = scene.publish(scene.root).path / "signature.json"
    document = json.loads(path.read_text())
    document["signature"] = _flip(document["signature"])
    path.write_text(json.dumps(document))


def _file_list_fixed_up(scene: Scene) -> None:
    """model.onnx replaced, and every sha256 that names it rewritten to match."""
    path = scene.publish(scene.root).path
    (path / "model.onnx").write_bytes((path / "model.onnx").read_bytes() + b"\0")
    onnx_sha = sha256_file(path / "model.onnx")
    metadata = json.loads((path / "metadata.json").read_text())
    metadata["onnx"].update(sha256=onnx_sha, size_bytes=(path / "model.onnx").stat().st_size)
    (path / "metadata.json").write_text(json.dumps(metadata))
    document = json.loads((path / "signature.json").read_text())
    document["files"].update(
        {"model.onnx": onnx_sha, "metadata.json": sha256_file(path / "metadata.json")}
    )
    (path / "signature.json").write_text(json.dumps(document))


def _graph_of_another_signed_version(scene: Scene) -> None:
    """Mix and match: every file was signed by the trusted key, but not together."""
    other = scene.publish(scene.root, name="other-model", model=scene.other_model)
    path = scene.publish(scene.root).path
    shutil.copyfile(other.path / "model.onnx", path / "model.onnx")


# attack -> what the refusal says (every reader refuses v2 and says so).
ATTACKS = {
    "unsigned": (_unsigned, r"v2 is not signed \(no signature\.json\)"),
    "signed by an untrusted key": (_signed_by_an_untrusted_key, r"which is not trusted"),
    "tampered then re-signed by the attacker": (
        _tampered_then_resigned_by_the_attacker,
        r"which is not trusted",
    ),
    "v1 replayed as v2": (_replayed_as_v2, r"names other files, model or version"),
    "replayed from another model": (_replayed_from_another_model, r"names other files, model"),
    "tampered model.onnx": (_tampered("model.onnx"), r"sha256 of model\.onnx"),
    "tampered metadata.json": (_tampered("metadata.json"), r"sha256 of metadata\.json"),
    "signature bytes flipped": (_signature_bytes_flipped, r"the signature does not match"),
    "sha256s fixed up everywhere": (_file_list_fixed_up, r"the signature does not match"),
    "graph of another signed version": (
        _graph_of_another_signed_version,
        r"sha256 of model\.onnx",
    ),
}


@pytest.fixture
def scene(tmp_path, publish_as_training, resign, untrusted_key, trusted_dir, trained):
    root = tmp_path / "registry"
    publish_as_training(root)
    dataset = trained[1]
    knn = build_pipeline("knn", seed=0).fit(dataset.x_train, dataset.y_train)
    return Scene(root, publish_as_training, resign, untrusted_key, trusted_dir, knn)


@pytest.fixture
def serving(scene):
    """The serving app on scene's registry, serving v1; reloads only when asked."""
    app = create_app(
        {"registry": scene.root, "trusted_keys": scene.trusted_dir, "reload_interval_s": 0}
    )
    store = get_store(app)
    assert store.version == "v1"
    yield app
    store.stop()


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def model_log():
    handler = _Records()
    logging.getLogger("app.model").addHandler(handler)
    yield handler.records
    logging.getLogger("app.model").removeHandler(handler)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_every_reader_refuses_what_no_trusted_key_signed(
    scene, serving, model_log, trusted, capsys, attack
):
    make, message = ATTACKS[attack]
    make(scene)
    assert read_latest(scene.root, NAME) == "v2"
    # The library: serving's load, Python users' load, and the whole-version check.
    with pytest.raises(RegistryError, match=message):
        load_verified(scene.root, NAME, trusted=trusted)
    with pytest.raises(RegistryError, match=message):
        load_pipeline(scene.root, NAME, trusted=trusted)
    with pytest.raises(RegistryError, match=message):
        verify_version(scene.root, NAME, "v2", trusted)
    with pytest.raises(RegistryError, match=message):
        set_latest(scene.root, NAME, "v2", trusted=trusted)
    # The command line: verify says BAD and exits 1, rollback refuses in one line.
    cli = ["--registry", str(scene.root), "--trusted-keys", str(scene.trusted_dir)]
    assert registry_cli([*cli, "verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok  v1" and out[1].startswith("BAD v2  (")
    assert registry_cli([*cli, "rollback", "--to", "v2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("model_registry: error: ") and err.count("\n") == 1
    # Serving: refused once (logged, counted), v1 keeps answering.
    store, client = get_store(serving), serving.test_client()
    failures = metrics.MODEL_LOAD_FAILURES._value.get()
    assert store.refresh() is False
    assert store.refresh() is False
    assert metrics.MODEL_LOAD_FAILURES._value.get() == failures + 1
    assert [r.getMessage() for r in model_log] == ["model refused"]
    assert model_log[0].serving == "v1" and re.search(message, model_log[0].reason)
    assert client.get("/readyz").get_json()["model"]["version"] == "v1"
    answer = client.post("/predict", json={"instances": SETOSA})
    assert answer.status_code == 200 and answer.get_json()["model"]["version"] == "v1"
    # A rollback to the good version repairs LATEST.
    assert set_latest(scene.root, NAME, "v1", trusted=trusted) is True


class _RunsCode:
    """A pickle that, when loaded, creates marker: what a hostile model.joblib does."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _hostile_pickle(marker: Path) -> bytes:
    return pickle.dumps(_RunsCode(marker))


def test_the_hostile_pickle_would_run_code_if_loaded(tmp_path):
    """The control of the planted-version test: the payload is real."""
    import joblib

    marker = tmp_path / "control-marker"
    joblib.load(io.BytesIO(_hostile_pickle(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize(
    "signature", ["v1's kept", "removed", "re-signed by the attacker", "sha256s fixed up"]
)
def test_a_planted_version_is_never_loaded_and_runs_no_code(
    tmp_path, scene, serving, trusted, capsys, signature
):
    """The attacker copies v1 to v2, swaps model.joblib for a hostile pickle and fixes
    every sha256 of metadata.json; the signature cannot follow."""
    marker = tmp_path / "pwned"
    planted = scene.copy_version(scene.model_dir / "v1", "v2")
    (planted / "model.joblib").write_bytes(_hostile_pickle(marker))
    metadata = json.loads((planted / "metadata.json").read_text())
    metadata["version"] = "v2"
    metadata["artifact"].update(
        sha256=sha256_file(planted / "model.joblib"),
        size_bytes=(planted / "model.joblib").stat().st_size,
    )
    (planted / "metadata.json").write_text(json.dumps(metadata, indent=2))
    if signature == "removed":
        (planted / "signature.json").unlink()
    elif signature == "re-signed by the attacker":
        scene.resign(planted, key=scene.attacker_key)
    elif signature == "sha256s fixed up":
        document = json.loads((planted / "signature.json").read_text())
        document["version"] = "v2"
        document["files"] = {name: sha256_file(planted / name) for name in document["files"]}
        (planted / "signature.json").write_text(json.dumps(document))
    scene.point_latest_at("v2")

    for read in (
        lambda: load_verified(scene.root, NAME, trusted=trusted),
        lambda: load_pipeline(scene.root, NAME, trusted=trusted),
        lambda: load_pipeline(scene.root, NAME, "v2", trusted=trusted),
        lambda: verify_version(scene.root, NAME, "v2", trusted),
        lambda: set_latest(scene.root, NAME, "v2", trusted=trusted),
    ):
        with pytest.raises(RegistryError):
            read()
    cli = ["--registry", str(scene.root), "--trusted-keys", str(scene.trusted_dir)]
    assert registry_cli([*cli, "verify"]) == 1
    assert registry_cli([*cli, "rollback", "--to", "v2"]) == 1
    assert registry_cli([*cli, "list"]) == 0
    assert "BAD v2" in capsys.readouterr().out
    store = get_store(serving)
    assert store.refresh() is False and store.version == "v1"
    assert serving.test_client().post("/predict", json={"instances": SETOSA}).status_code == 200
    assert not marker.exists()


def test_an_extra_unsigned_file_fails_the_whole_version_check(scene, trusted, capsys, trusted_dir):
    (scene.model_dir / "v1" / "evil.py").write_text("print('hi')\n")
    (scene.model_dir / "v1" / "more").mkdir()
    with pytest.raises(RegistryError, match=r"evil\.py, more not covered by the signature"):
        verify_version(scene.root, NAME, "v1", trusted)
    with pytest.raises(RegistryError, match="not covered by the signature"):
        set_latest(scene.root, NAME, "v1", trusted=trusted)
    with pytest.raises(RegistryError, match="not covered by the signature"):
        load_pipeline(scene.root, NAME, trusted=trusted)
    cli = ["--registry", str(scene.root), "--trusted-keys", str(trusted_dir)]
    assert registry_cli([*cli, "verify"]) == 1
    assert "evil.py" in capsys.readouterr().out
    # Serving reads the signed metadata and graph only: an unread file changes nothing.
    assert load_verified(scene.root, NAME, trusted=trusted).version == "v1"


@pytest.mark.parametrize("file", ["model.joblib", "report.json"])
def test_a_tampered_file_serving_never_reads_still_fails_every_full_check(
    scene, trusted, file, monkeypatch
):
    path = scene.model_dir / "v1" / file
    content = bytearray(path.read_bytes())
    content[-2] ^= 0x01
    path.write_bytes(bytes(content))
    import joblib

    unpickled = []
    monkeypatch.setattr(joblib, "load", lambda *args, **kwargs: unpickled.append(args))
    message = rf"sha256 of {file} .*the signature says"
    for read in (
        lambda: verify_version(scene.root, NAME, "v1", trusted),
        lambda: set_latest(scene.root, NAME, "v1", trusted=trusted),
        lambda: load_pipeline(scene.root, NAME, trusted=trusted),
    ):
        with pytest.raises(RegistryError, match=message):
            read()
    assert unpickled == []
    assert load_verified(scene.root, NAME, trusted=trusted).version == "v1"


def test_a_missing_signed_file_fails_the_whole_version_check(scene, publish_as_training, trusted):
    publish_as_training(scene.root)
    (scene.model_dir / "v2" / "report.json").unlink()
    with pytest.raises(RegistryError, match=r"cannot read report\.json"):
        verify_version(scene.root, NAME, "v2", trusted)


# ---------------------------------------------------------------- key rotation


def test_key_rotation_keeps_old_versions_while_their_key_is_trusted(
    tmp_path, publish_as_training, capsys
):
    root, private_path, folder = tmp_path / "registry", tmp_path / "signing.pem", tmp_path / "pub"
    old, _ = ensure_key(private_path, folder)
    publish_as_training(root, key=old)
    app = create_app({"registry": root, "trusted_keys": folder, "reload_interval_s": 0})
    store = get_store(app)
    try:
        assert store.version == "v1"
        new = create_key(private_path, folder)  # what `keys rotate` does
        assert new.key_id != old.key_id
        assert load_signing_key(private_path).key_id == new.key_id
        assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
        publish_as_training(root, key=load_signing_key(private_path))

        def signer(version):
            return json.loads((root / NAME / version / "signature.json").read_text())["key_id"]

        assert (signer("v1"), signer("v2")) == (old.key_id, new.key_id)
        trusted = load_trusted_keys(folder)
        assert set(trusted) == {old.key_id, new.key_id}
        for version in ("v1", "v2"):
            verify_version(root, NAME, version, trusted)
        # Serving reads the keys again for the new version; a rollback across the
        # rotation is fine while the old key is trusted.
        assert store.refresh() is True and store.version == "v2"
        assert set_latest(root, NAME, "v1", trusted=trusted) is True
        assert store.refresh() is True and store.version == "v1"
        assert set_latest(root, NAME, "v2", trusted=trusted) is True
        assert store.refresh() is True and store.version == "v2"

        # Retiring the old key retires every version it signed.
        (folder / f"{old.key_id}.pub").unlink()
        trusted = load_trusted_keys(folder)
        assert set(trusted) == {new.key_id}
        not_trusted = rf"signed by key '{old.key_id}', which is not trusted"
        with pytest.raises(RegistryError, match=not_trusted):
            load_verified(root, NAME, "v1", trusted=trusted)
        with pytest.raises(RegistryError, match=not_trusted):
            set_latest(root, NAME, "v1", trusted=trusted)
        assert load_verified(root, NAME, trusted=trusted).version == "v2"
        cli = ["--registry", str(root), "--trusted-keys", str(folder), "verify"]
        assert registry_cli(cli) == 1
        assert capsys.readouterr().out.splitlines() == [
            f"BAD v1  ({NAME} v1: signed by key '{old.key_id}', which is not trusted)",
            "ok  v2",
        ]
        (root / NAME / "LATEST").write_text("v1\n")  # a registry writer rolls back anyway
        assert store.refresh() is False and store.version == "v2"
    finally:
        store.stop()


# ---------------------------------------------------------------- no pickle in serving


def test_load_verified_needs_neither_joblib_nor_pickle(scene, trusted, trained, monkeypatch):
    """The serving load on a good version, with joblib unimportable and pickle booby-trapped."""

    def never(*args, **kwargs):
        raise AssertionError("something unpickled")

    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "joblib", None)
        patch.setitem(sys.modules, "sklearn", None)
        for name in ("load", "loads", "Unpickler"):
            patch.setattr(pickle, name, never)
        with pytest.raises(ImportError):
            import joblib  # noqa: F401
        loaded = load_verified(scene.root, NAME, trusted=trusted)
    assert loaded.version == "v1" and not hasattr(loaded, "model")
    pipeline, dataset, _ = trained
    got = onnx_runner(loaded.onnx).predict_proba(dataset.x_test)
    assert np.abs(got - pipeline.predict_proba(dataset.x_test)).max() <= EQUAL_WITHIN


@pytest.mark.parametrize("damage", ["deleted", "garbage"])
def test_the_graph_loads_whatever_became_of_the_pickle(scene, trusted, damage, monkeypatch):
    import joblib

    unpickled = []
    monkeypatch.setattr(joblib, "load", lambda *args, **kwargs: unpickled.append(args))
    artifact = scene.model_dir / "v1" / "model.joblib"
    if damage == "deleted":
        artifact.unlink()
    else:
        artifact.write_bytes(b"\x80\x04garbage, not a pickle")
    assert load_verified(scene.root, NAME, trusted=trusted).version == "v1"
    with pytest.raises(RegistryError, match=r"model\.joblib"):
        load_pipeline(scene.root, NAME, trusted=trusted)
    with pytest.raises(RegistryError, match=r"model\.joblib"):
        verify_version(scene.root, NAME, "v1", trusted)
    assert unpickled == []


def test_garbage_pickle_with_its_sha256_fixed_in_the_metadata_is_refused(
    scene, trusted, monkeypatch
):
    """Fixing metadata.json to match the new pickle breaks metadata.json's own signature."""
    import joblib

    unpickled = []
    monkeypatch.setattr(joblib, "load", lambda *args, **kwargs: unpickled.append(args))
    version = scene.model_dir / "v1"
    (version / "model.joblib").write_bytes(b"garbage")
    metadata = json.loads((version / "metadata.json").read_text())
    metadata["artifact"].update(sha256=sha256_file(version / "model.joblib"), size_bytes=7)
    (version / "metadata.json").write_text(json.dumps(metadata, indent=2))
    for read in (
        lambda: load_verified(scene.root, NAME, trusted=trusted),
        lambda: load_pipeline(scene.root, NAME, trusted=trusted),
    ):
        with pytest.raises(RegistryError, match=r"sha256 of metadata\.json .*the signature says"):
            read()
    assert unpickled == []


def test_load_pipeline_gives_the_signed_pipeline(scene, trusted, trained):
    pipeline = load_pipeline(scene.root, NAME, trusted=trusted)
    assert isinstance(pipeline, Pipeline)
    assert pipeline.predict(SETOSA).tolist() == [0]
    graph = load_verified(scene.root, NAME, trusted=trusted).onnx
    rows = np.vstack([probe_rows(4), trained[1].x_test])
    difference = np.abs(onnx_runner(graph).predict_proba(rows) - pipeline.predict_proba(rows))
    assert difference.max() <= EQUAL_WITHIN


# A serving process as the image runs it: no scikit-learn, no joblib to import.
SERVING_CHILD = """
import json, sys
sys.modules["joblib"] = None
sys.modules["sklearn"] = None
from pathlib import Path
from app import create_app
app = create_app({"registry": Path(sys.argv[1]), "trusted_keys": Path(sys.argv[2]),
                  "reload_interval_s": 0, "log_requests": False})
answer = app.test_client().post("/predict", json={"instances": [[5.1, 3.5, 1.4, 0.2]]})
print(json.dumps({"status": answer.status_code, "body": answer.get_json()}))
"""


def test_serving_answers_without_scikit_learn_or_joblib(scene, trusted_dir):
    result = subprocess.run(
        [sys.executable, "-c", SERVING_CHILD, str(scene.root), str(trusted_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["status"] == 200, answer
    assert answer["body"]["predictions"][0]["class_name"] == "setosa"
    assert answer["body"]["model"]["version"] == "v1"


def test_keys_are_made_in_folders_that_do_not_exist_yet(tmp_path):
    """A fresh volume: neither the key's folder nor its parents exist."""
    key, made = ensure_key(tmp_path / "a" / "b" / "signing-key.pem", tmp_path / "c" / "d")
    assert made and set(load_trusted_keys(tmp_path / "c" / "d")) == {key.key_id}
    rotated = create_key(tmp_path / "e" / "f" / "signing-key.pem", tmp_path / "g" / "h")
    assert load_signing_key(tmp_path / "e" / "f" / "signing-key.pem").key_id == rotated.key_id
    assert set(load_trusted_keys(tmp_path / "g" / "h")) == {rotated.key_id}


def test_a_signing_key_of_another_kind_is_refused_naming_it(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / "signing-key.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(RegistryError) as refused:
        load_signing_key(path)
    assert str(refused.value) == f"{path} is not an Ed25519 private key"


def test_a_key_file_of_up_to_key_max_bytes_is_read(tmp_path, signing_key):
    folder = tmp_path / "trusted"
    path = trust(signing_key.public, folder)
    pem = path.read_bytes()
    path.write_bytes(pem + b"\n" * (KEY_MAX_BYTES - len(pem)))
    assert set(load_trusted_keys(folder)) == {signing_key.key_id}
    path.write_bytes(pem + b"\n" * (KEY_MAX_BYTES + 1 - len(pem)))
    with pytest.raises(RegistryError, match="is larger than a key can be"):
        load_trusted_keys(folder)


def test_a_key_file_that_never_ends_is_refused_after_a_few_kilobytes(tmp_path, signing_key):
    """A .pub that is a FIFO fed without end (as a link to /dev/zero would be): the reader
    stops after KEY_MAX_BYTES + 1 bytes instead of reading on."""
    folder = tmp_path / "trusted"
    trust(signing_key.public, folder)
    fifo = folder / "0123456789abcdef.pub"
    os.mkfifo(fifo)
    chunk, chunks, written = 4096, 1024, []

    def feed():
        try:
            with open(fifo, "wb", buffering=0) as handle:
                for _ in range(chunks):
                    written.append(handle.write(b"\0" * chunk))
        except BrokenPipeError:  # the reader has had enough
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    with pytest.raises(RegistryError, match="is larger than a key can be"):
        load_trusted_keys(folder)
    feeder.join(timeout=60)
    assert not feeder.is_alive()
    assert sum(written) < chunks * chunk / 4, sum(written)


# ------------------------------------------- the signed bytes, as FORMAT.md gives them


def test_the_signed_bytes_are_exactly_what_format_md_says(tmp_path):
    """A verifier written in another language from FORMAT.md alone must agree with ours:
    the canonical claim, byte for byte, both ways."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from model_registry.signing import SigningKey, load_trusted_keys

    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    key = SigningKey(private, key_id(private.public_key()))
    files = {"model.onnx": "b" * 64, "metadata.json": "a" * 64}
    expected = "".join(
        [
            '{"algorithm":"ed25519",',
            f'"files":{{"metadata.json":"{"a" * 64}","model.onnx":"{"b" * 64}"}},',
            f'"format":1,"key_id":"{key.key_id}","model":"iris-classifier","version":"v3"}}',
        ]
    ).encode()
    # FORMAT.md states the rule those bytes follow.
    format_md = (Path(__file__).parent.parent / "model_registry" / "FORMAT.md").read_text()
    assert 'sort_keys=True,\nseparators=(",", ":"))`, ASCII' in format_md
    # Ours signs exactly those bytes...
    document = sign(key, NAME, "v3", files)
    private.public_key().verify(base64.b64decode(document["signature"]), expected)
    # ...and accepts a signature made over them by anyone holding the key.
    trust(private.public_key(), tmp_path)
    trusted = load_trusted_keys(tmp_path)
    theirs = {**document, "signature": base64.b64encode(private.sign(expected)).decode()}
    assert verify(theirs, trusted, NAME, "v3") == dict(sorted(files.items()))
    # Other bytes for the same claim (keys in another order, spaces) are another message.
    claim = json.loads(expected)
    for other in (
        json.dumps(dict(reversed(claim.items())), separators=(",", ":")).encode(),
        json.dumps(claim, sort_keys=True).encode(),
    ):
        forged = {**document, "signature": base64.b64encode(private.sign(other)).decode()}
        with pytest.raises(RegistryError, match="the signature does not match"):
            verify(forged, trusted, NAME, "v3")


@pytest.mark.parametrize("garble", [lambda s: s[:8] + "*" + s[8:], lambda s: s + "\n"])
def test_a_signature_that_is_not_strict_base64_is_refused(signing_key, trusted, garble):
    """Characters outside base64 are not skipped: the document is refused as written."""
    document = sign(signing_key, NAME, "v3", FILES)
    assert verify(document, trusted, NAME, "v3")
    garbled = {**document, "signature": garble(document["signature"])}
    with pytest.raises(RegistryError, match="the signature does not match"):
        verify(garbled, trusted, NAME, "v3")


def test_a_key_named_up_to_the_file_system_limit_is_created(tmp_path):
    """The temporary file beside the key has a short name of its own, whatever the key's."""
    key = create_key(tmp_path / ("k" * 255), tmp_path / "trusted")
    assert load_signing_key(tmp_path / ("k" * 255)).key_id == key.key_id
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
