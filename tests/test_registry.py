"""The model registry: atomic, monotonic publishing and verified loading.

The signature's own guarantees (unsigned, untrusted, planted, replayed versions, key
rotation) are in test_signing.py.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model_registry import (
    RegistryError,
    list_versions,
    load_pipeline,
    load_trusted_keys,
    load_verified,
    publish,
    read_latest,
    set_latest,
    verify_version,
)
from model_registry.clean import remove_litter
from model_registry.format import FORMAT_VERSION, METADATA_KEYS, sha256_file

NAME = "iris-classifier"
SETOSA = [[5.1, 3.5, 1.4, 0.2]]


@pytest.fixture
def pipeline(trained):
    return trained[0]


@pytest.fixture
def publish_into(pipeline, fields, onnx_graph, signing_key):
    """publish_into(root, name=NAME): publish() called as training calls it."""

    def _publish(root, name=NAME):
        return publish(root, name, pipeline, fields, onnx_model=onnx_graph, signing_key=signing_key)

    return _publish


def test_onnx_graph_is_published_with_its_own_checksum(tmp_path, publish_into, onnx_graph, trusted):
    published = publish_into(tmp_path)
    metadata = json.loads((published.path / "metadata.json").read_text())
    assert list(metadata) == list(METADATA_KEYS)
    assert list(METADATA_KEYS)[-2:] == ["onnx", "onnx_proof"]
    onnx_file = published.path / "model.onnx"
    assert onnx_file.read_bytes() == onnx_graph
    assert metadata["onnx"] == {
        "file": "model.onnx",
        "sha256": sha256_file(onnx_file),
        "size_bytes": len(onnx_graph),
    }
    assert load_verified(tmp_path, NAME, trusted=trusted).onnx == onnx_graph


def test_every_file_of_a_version_is_signed_with_its_name_and_version(
    tmp_path, publish_as_training, signing_key
):
    published = publish_as_training(tmp_path)
    signature = json.loads((published.path / "signature.json").read_text())
    assert signature["key_id"] == signing_key.key_id
    assert (signature["model"], signature["version"]) == (NAME, "v1")
    assert (signature["format"], signature["algorithm"]) == (1, "ed25519")
    assert signature["files"] == {
        name: sha256_file(published.path / name)
        for name in ("metadata.json", "model.joblib", "model.onnx", "report.json")
    }


@pytest.mark.parametrize("missing", ["onnx_proof", "signature"])
def test_publish_refuses_fields_without_a_required_key(tmp_path, publish_into, fields, missing):
    del fields[missing]
    with pytest.raises(RegistryError, match=f"metadata is missing {missing}"):
        publish_into(tmp_path)
    assert list_versions(tmp_path, NAME) == []


@pytest.mark.parametrize(
    "filename", ["signature.json", "metadata.json", "model.onnx", "model.joblib", "a/b"]
)
def test_an_extra_file_cannot_take_the_place_of_a_signed_one(
    tmp_path, pipeline, fields, onnx_graph, signing_key, filename
):
    with pytest.raises(RegistryError, match="refusing extra file name"):
        publish(
            tmp_path,
            NAME,
            pipeline,
            fields,
            onnx_model=onnx_graph,
            signing_key=signing_key,
            extra_files={filename: "{}"},
        )
    assert list_versions(tmp_path, NAME) == []
    assert not [p for p in (tmp_path / NAME).iterdir() if p.name.startswith(".staging")]


def test_tampered_onnx_refuses_the_whole_version(
    tmp_path, publish_into, onnx_graph, trusted, monkeypatch
):
    published = publish_into(tmp_path)
    (published.path / "model.onnx").write_bytes(onnx_graph + b"\x00")
    import joblib

    unpickled = []
    monkeypatch.setattr(joblib, "load", lambda *args, **kwargs: unpickled.append(args))
    with pytest.raises(RegistryError, match=r"sha256 of model.onnx .*refusing it"):
        load_verified(tmp_path, NAME, trusted=trusted)
    with pytest.raises(RegistryError, match=r"sha256 of model.onnx .*refusing it"):
        load_pipeline(tmp_path, NAME, trusted=trusted)
    assert unpickled == []


def test_publish_writes_a_complete_version(tmp_path, publish_into):
    published = publish_into(tmp_path)
    assert published.version == "v1" and published.latest_updated
    metadata = json.loads((published.path / "metadata.json").read_text())
    assert list(metadata) == list(METADATA_KEYS)
    assert metadata["version"] == "v1" and metadata["format_version"] == FORMAT_VERSION == 2
    assert metadata["created_at"].endswith("Z")
    assert metadata["artifact"]["sha256"] == sha256_file(published.path / "model.joblib")
    assert metadata["artifact"]["size_bytes"] == (published.path / "model.joblib").stat().st_size
    assert published.sha256 == metadata["artifact"]["sha256"]
    assert metadata["signature"]["outputs"] == ["setosa", "versicolor", "virginica"]
    assert set(metadata["framework"]) == {"python", "scikit-learn", "joblib", "numpy", "skl2onnx"}
    assert metadata["onnx_proof"]["max_abs_difference"] <= metadata["onnx_proof"]["equal_within"]
    assert len(metadata["training_data"]["fingerprint"]) == 64
    assert sorted(p.name for p in published.path.iterdir()) == [
        "metadata.json",
        "model.joblib",
        "model.onnx",
        "signature.json",
    ]
    assert read_latest(tmp_path, NAME) == "v1"
    leftovers = [p.name for p in (tmp_path / NAME).iterdir() if p.name.startswith(".staging")]
    assert leftovers == []


def test_versions_increase_and_loading_gets_latest(tmp_path, publish_into, trusted):
    for _ in range(3):
        publish_into(tmp_path)
    assert list_versions(tmp_path, NAME) == ["v1", "v2", "v3"]
    loaded = load_verified(tmp_path, NAME, trusted=trusted)
    assert loaded.version == "v3"
    assert load_pipeline(tmp_path, NAME, trusted=trusted).predict(SETOSA).tolist() == [0]
    assert load_verified(tmp_path, NAME, "v1", trusted=trusted).version == "v1"


def _publish_in_child(args):
    root, seed = args
    from training.cli import main

    return main(["--registry", root, "--seed", str(seed)])


def test_concurrent_publishers_never_overwrite_each_other(tmp_path, trusted_dir):
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        codes = pool.map(_publish_in_child, [(str(tmp_path), seed) for seed in range(8)])
    assert codes == [0] * 8
    versions = list_versions(tmp_path, NAME)
    assert versions == [f"v{i}" for i in range(1, 9)]
    seeds = {
        json.loads((tmp_path / NAME / v / "metadata.json").read_text())["training_data"]["seed"]
        for v in versions
    }
    assert seeds == set(range(8))
    assert read_latest(tmp_path, NAME) == "v8"
    trusted = load_trusted_keys(trusted_dir)
    for version in versions:
        # Each signature names the number its publisher finally claimed.
        verify_version(tmp_path, NAME, version, trusted)


def test_failed_publish_leaves_no_trace(tmp_path, publish_into, monkeypatch):
    publish_into(tmp_path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="disk full"):
        publish_into(tmp_path)
    assert list_versions(tmp_path, NAME) == ["v1"]
    assert read_latest(tmp_path, NAME) == "v1"
    assert not [p for p in (tmp_path / NAME).iterdir() if p.name.startswith(".staging")]


def test_latest_never_moves_backwards(tmp_path, publish_into, trusted):
    for _ in range(2):
        publish_into(tmp_path)
    assert set_latest(tmp_path, NAME, "v1", trusted=trusted, only_if_newer=True) is False
    assert read_latest(tmp_path, NAME) == "v2"
    assert set_latest(tmp_path, NAME, "v1", trusted=trusted) is True  # an explicit rollback may
    assert read_latest(tmp_path, NAME) == "v1"
    with pytest.raises(RegistryError, match=r"iris-classifier v9 "):
        set_latest(tmp_path, NAME, "v9", trusted=trusted)
    assert read_latest(tmp_path, NAME) == "v1"


def test_tampered_artifact_is_never_unpickled(tmp_path, publish_into, trusted, monkeypatch):
    published = publish_into(tmp_path)
    with open(published.path / "model.joblib", "ab") as handle:
        handle.write(b"tampered")
    import joblib

    unpickled = []
    monkeypatch.setattr(joblib, "load", lambda *args, **kwargs: unpickled.append(args))
    with pytest.raises(RegistryError, match=r"sha256 of model.joblib .*the signature says"):
        load_pipeline(tmp_path, NAME, trusted=trusted)
    with pytest.raises(RegistryError, match=r"sha256 of model.joblib"):
        verify_version(tmp_path, NAME, "v1", trusted)
    # Serving's load never reads the pickle: the signed graph is all it runs.
    assert load_verified(tmp_path, NAME, trusted=trusted).version == "v1"
    assert unpickled == []


@pytest.mark.parametrize("pointer", ["../../etc", "v1/../../x", "/etc/passwd", "latest", "v01", ""])
def test_latest_cannot_escape_the_registry(tmp_path, publish_into, trusted, pointer):
    publish_into(tmp_path)
    (tmp_path / NAME / "LATEST").write_text(pointer + "\n")
    with pytest.raises(RegistryError, match="invalid version"):
        load_verified(tmp_path, NAME, trusted=trusted)


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "UPPER", "x" * 80])
def test_model_names_are_checked(tmp_path, publish_into, name):
    with pytest.raises(RegistryError, match="invalid model name"):
        publish_into(tmp_path, name)


# A change that removes the key.
_DELETE = object()


def _rewrite_metadata(version_dir: Path, change: dict) -> None:
    path = version_dir / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata.update(change)
    for key in [key for key, value in change.items() if value is _DELETE]:
        del metadata[key]
    path.write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 1}, "format_version 1 is not the supported 2"),
        ({"version": "v7"}, "another model or version"),
        ({"name": "other"}, "another model or version"),
        ({"artifact": None}, "no valid artifact"),
        ({"onnx": None}, "no valid onnx"),
        ({"onnx": _DELETE}, "no valid onnx"),
        ({"onnx_proof": _DELETE}, "no 'onnx_proof'"),
        ({"onnx_proof": [1]}, "'onnx_proof' is a list, expected an object"),
    ],
)
def test_bad_metadata_is_refused_even_when_signed(
    tmp_path, publish_into, resign, trusted, change, message
):
    """Signed by a trusted key or not, metadata of another format or shape never loads."""
    published = publish_into(tmp_path)
    _rewrite_metadata(published.path, change)
    with pytest.raises(RegistryError, match=r"sha256 of metadata\.json .*the signature says"):
        load_verified(tmp_path, NAME, trusted=trusted)
    resign(published.path)
    with pytest.raises(RegistryError, match=message):
        load_verified(tmp_path, NAME, trusted=trusted)
    with pytest.raises(RegistryError, match=message):
        verify_version(tmp_path, NAME, "v1", trusted)


def test_metadata_disagreeing_with_the_signature_on_a_file_is_refused(
    tmp_path, publish_into, resign, trusted
):
    """metadata.json's sha256 of model.onnx must be the one the signature gives."""
    published = publish_into(tmp_path)
    path = published.path / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata["onnx"]["sha256"] = "0" * 64
    path.write_text(json.dumps(metadata))
    resign(published.path)
    with pytest.raises(RegistryError, match=r"metadata and signature disagree on model\.onnx"):
        load_verified(tmp_path, NAME, trusted=trusted)


def test_empty_registry_says_so(tmp_path, trusted):
    assert read_latest(tmp_path, NAME) is None
    with pytest.raises(RegistryError, match="no model published yet"):
        load_verified(tmp_path, NAME, trusted=trusted)
    with pytest.raises(RegistryError, match="no model published yet"):
        load_pipeline(tmp_path, NAME, trusted=trusted)


def test_other_scikit_learn_version_is_refused(tmp_path, publish_into, trusted, monkeypatch):
    import sklearn.base

    published = publish_into(tmp_path)
    assert published.version == "v1"
    # A pickle records the scikit-learn version it was made with; pretend to be another.
    monkeypatch.setattr(sklearn.base, "__version__", "0.0.1")
    with pytest.raises(RegistryError, match="Trying to unpickle"):
        load_pipeline(tmp_path, NAME, trusted=trusted)
    # Serving does not care: it runs the graph, never the pickle.
    assert load_verified(tmp_path, NAME, trusted=trusted).version == "v1"


def test_published_files_are_readable_by_others(tmp_path, publish_as_training):
    published = publish_as_training(tmp_path)
    paths = [published.path, *Path(published.path).iterdir()]
    assert {p.name for p in paths} >= {"signature.json", "report.json", "model.onnx"}
    for path in paths:
        assert path.stat().st_mode & 0o004, path


def test_versions_compare_as_numbers_never_as_text(tmp_path, publish_into, trusted):
    for _ in range(10):
        publish_into(tmp_path)
    # As text, "v10" < "v9": LATEST would stay on v9 and v10 would sort first.
    assert read_latest(tmp_path, NAME) == "v10"
    assert list_versions(tmp_path, NAME) == [f"v{i}" for i in range(1, 11)]
    assert set_latest(tmp_path, NAME, "v9", trusted=trusted, only_if_newer=True) is False
    assert read_latest(tmp_path, NAME) == "v10"


def test_an_oversize_latest_is_refused_naming_it(tmp_path, publish_into):
    publish_into(tmp_path)
    (tmp_path / NAME / "LATEST").write_text(" " * 100_000 + "v1\n")
    with pytest.raises(RegistryError, match="LATEST is larger than"):
        read_latest(tmp_path, NAME)


@pytest.mark.parametrize("file", ["metadata.json", "signature.json"])
def test_an_oversize_metadata_or_signature_file_is_refused_naming_it(
    tmp_path, publish_into, trusted, file
):
    published = publish_into(tmp_path)
    path = published.path / file
    path.write_text(path.read_text() + " " * (2 << 20))
    with pytest.raises(RegistryError, match=rf"{file} is larger than"):
        load_verified(tmp_path, NAME, trusted=trusted)


# Reads LATEST when it is a symlink to /dev/zero, in a child limited to 512 MiB of
# address space: a reader without a size cap fails there with MemoryError, fast,
# instead of taking the machine's memory.
DEV_ZERO_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
from model_registry import RegistryError, read_latest
try:
    read_latest(sys.argv[1], "iris-classifier")
except RegistryError as exc:
    print("refused:", exc)
"""


def test_latest_linked_to_dev_zero_is_refused_without_reading_it(tmp_path):
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "LATEST").symlink_to("/dev/zero")
    result = subprocess.run(
        [sys.executable, "-c", DEV_ZERO_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.startswith("refused: ") and "LATEST" in result.stdout


def test_a_signature_linked_to_dev_zero_is_refused(tmp_path, publish_into, trusted):
    published = publish_into(tmp_path)
    (published.path / "signature.json").unlink()
    (published.path / "signature.json").symlink_to("/dev/zero")
    with pytest.raises(RegistryError, match=r"signature\.json leads out of the registry"):
        load_verified(tmp_path, NAME, trusted=trusted)


@pytest.fixture
def outside(tmp_path, publish_into):
    """A complete, intact v2 of the same model, outside the registry under test."""
    elsewhere = tmp_path / "elsewhere"
    publish_into(elsewhere)
    publish_into(elsewhere)
    return elsewhere / NAME / "v2"


@pytest.fixture
def registry(tmp_path, publish_as_training):
    root = tmp_path / "registry"
    publish_as_training(root)
    return root


def test_a_version_directory_linked_out_of_the_registry_is_refused(registry, outside, trusted):
    (registry / NAME / "v2").symlink_to(outside, target_is_directory=True)
    with pytest.raises(RegistryError, match="out of the registry"):
        load_verified(registry, NAME, "v2", trusted=trusted)
    with pytest.raises(RegistryError, match="out of the registry"):
        set_latest(registry, NAME, "v2", trusted=trusted)
    assert read_latest(registry, NAME) == "v1"


@pytest.mark.parametrize(
    ("file", "reader"),
    [
        ("metadata.json", "load_verified"),
        ("model.onnx", "load_verified"),
        ("signature.json", "load_verified"),
        ("model.joblib", "load_pipeline"),
        ("report.json", "verify_version"),
    ],
)
def test_a_file_linked_out_of_the_registry_is_refused(registry, outside, trusted, file, reader):
    target = registry / NAME / "v1" / file
    copy = outside.parent / f"copy-of-{file}"
    copy.write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(copy)
    read = {
        "load_verified": lambda: load_verified(registry, NAME, trusted=trusted),
        "load_pipeline": lambda: load_pipeline(registry, NAME, trusted=trusted),
        "verify_version": lambda: verify_version(registry, NAME, "v1", trusted),
    }[reader]
    with pytest.raises(RegistryError, match=f"v1/{file} leads out of the registry"):
        read()


def test_latest_linked_out_of_the_registry_is_refused(registry, tmp_path):
    pointer = tmp_path / "pointer"
    pointer.write_text("v1\n")
    (registry / NAME / "LATEST").unlink()
    (registry / NAME / "LATEST").symlink_to(pointer)
    with pytest.raises(RegistryError, match="LATEST leads out of the registry"):
        read_latest(registry, NAME)


def test_a_registry_reached_through_a_symlink_still_loads(registry, tmp_path, trusted):
    link = tmp_path / "link-to-registry"
    link.symlink_to(registry, target_is_directory=True)
    assert load_verified(link, NAME, trusted=trusted).version == "v1"
    assert load_pipeline(link, NAME, trusted=trusted).predict(SETOSA).tolist() == [0]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("corrupt", "sha256 of model.joblib"),
        ("missing", "model.joblib"),
    ],
)
def test_set_latest_verifies_the_whole_version_first(
    registry, publish_as_training, trusted, damage, message
):
    publish_as_training(registry)
    artifact = registry / NAME / "v1" / "model.joblib"
    if damage == "corrupt":
        artifact.write_bytes(artifact.read_bytes() + b"\0")
    else:
        artifact.unlink()
    with pytest.raises(RegistryError, match=message):
        set_latest(registry, NAME, "v1", trusted=trusted)
    assert read_latest(registry, NAME) == "v2"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"created_at": 5}, "'created_at' is an integer, expected a string"),
        ({"metrics": "good"}, "'metrics' is a string, expected an object"),
        ({"signature": {"inputs": [1, 2], "outputs": ["a"]}}, "signature"),
        ({"artifact": {"file": "model.joblib", "size_bytes": 1}}, "artifact"),
        ({"onnx": {"file": "model.joblib", "sha256": "0" * 64, "size_bytes": 1}}, "onnx"),
        ({"format_version": True}, "format_version"),
    ],
)
def test_metadata_of_the_wrong_shape_is_refused(registry, resign, trusted, change, message):
    _rewrite_metadata(registry / NAME / "v1", change)
    resign(registry / NAME / "v1")  # the shape is checked even when the signature holds
    with pytest.raises(RegistryError, match=message):
        load_verified(registry, NAME, trusted=trusted)


def test_a_damaged_latest_is_repaired_by_an_explicit_set_latest(
    registry, publish_as_training, trusted
):
    publish_as_training(registry)
    (registry / NAME / "LATEST").write_text("garbage\n")
    assert set_latest(registry, NAME, "v1", trusted=trusted) is True
    assert read_latest(registry, NAME) == "v1"


HOURS = 3600


def _litter(directory: Path, age_s: float) -> list[Path]:
    """A killed publisher's leftovers in directory: a staging dir and a LATEST.tmp file."""
    stamp = f"{int(age_s)}s"
    staging = directory / f".staging-{stamp}"
    staging.mkdir()
    (staging / "model.joblib").write_bytes(b"partial")
    tmp = directory / f"LATEST.tmp-{stamp}"
    tmp.write_text("v1\n")
    for path in (staging / "model.joblib", staging, tmp):
        then = time.time() - age_s
        os.utime(path, (then, then))
    return [staging, tmp]


def test_publish_removes_old_litter_and_keeps_fresh(registry, publish_as_training):
    directory = registry / NAME
    old, fresh = _litter(directory, 2 * HOURS), _litter(directory, 60)
    publish_as_training(registry)
    assert [path.exists() for path in old] == [False, False]
    assert [path.exists() for path in fresh] == [True, True]
    assert read_latest(registry, NAME) == "v2"


def test_a_staging_dir_with_a_fresh_file_is_kept(registry):
    staging, _ = _litter(registry / NAME, 2 * HOURS)
    (staging / "metadata.json").write_text("{}")  # its publisher is still writing
    then = time.time() - 2 * HOURS
    os.utime(staging, (then, then))
    assert list(remove_litter(registry, NAME).removed) == [registry / NAME / "LATEST.tmp-7200s"]
    assert staging.is_dir()


def test_a_linked_staging_dir_is_unlinked_not_emptied(registry, tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "data").write_text("keep me")
    link = registry / NAME / ".staging-link"
    link.symlink_to(target, target_is_directory=True)
    then = time.time() - 2 * HOURS
    os.utime(link, (then, then), follow_symlinks=False)
    assert list(remove_litter(registry, NAME).removed) == [link]
    assert not link.is_symlink() and (target / "data").read_text() == "keep me"
