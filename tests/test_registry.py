"""The model registry: atomic, monotonic publishing and verified loading."""

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
    load_verified,
    publish,
    read_latest,
    set_latest,
)
from model_registry.clean import remove_litter
from model_registry.format import METADATA_KEYS, sha256_file
from training.cli import metadata_fields

NAME = "iris-classifier"


@pytest.fixture
def fields(trained, settings_for_tests):
    _, dataset, report = trained
    return metadata_fields(settings_for_tests, dataset, report)


@pytest.fixture
def pipeline(trained):
    return trained[0]


def test_onnx_graph_is_published_with_its_own_checksum(tmp_path, pipeline, fields, onnx_graph):
    published = publish(tmp_path, NAME, pipeline, fields, onnx_model=onnx_graph)
    metadata = json.loads((published.path / "metadata.json").read_text())
    assert list(metadata) == [*METADATA_KEYS, "onnx"]
    onnx_file = published.path / "model.onnx"
    assert onnx_file.read_bytes() == onnx_graph
    assert metadata["onnx"] == {
        "file": "model.onnx",
        "sha256": sha256_file(onnx_file),
        "size_bytes": len(onnx_graph),
    }
    assert load_verified(tmp_path, NAME).onnx == onnx_graph


def test_a_version_without_onnx_loads_without_it(tmp_path, pipeline, fields):
    publish(tmp_path, NAME, pipeline, fields)
    loaded = load_verified(tmp_path, NAME)
    assert loaded.onnx is None and "onnx" not in loaded.metadata


def test_tampered_onnx_refuses_the_whole_version(
    tmp_path, pipeline, fields, onnx_graph, monkeypatch
):
    published = publish(tmp_path, NAME, pipeline, fields, onnx_model=onnx_graph)
    (published.path / "model.onnx").write_bytes(onnx_graph + b"\x00")
    import joblib

    unpickled = []
    monkeypatch.setattr(joblib, "load", lambda *args, **kwargs: unpickled.append(args))
    with pytest.raises(RegistryError, match=r"sha256 of model.onnx .*refusing to load"):
        load_verified(tmp_path, NAME)
    assert unpickled == []


def test_publish_writes_a_complete_version(tmp_path, pipeline, fields):
    published = publish(tmp_path, NAME, pipeline, fields)
    assert published.version == "v1" and published.latest_updated
    metadata = json.loads((published.path / "metadata.json").read_text())
    assert list(metadata) == list(METADATA_KEYS)
    assert metadata["version"] == "v1" and metadata["format_version"] == 1
    assert metadata["created_at"].endswith("Z")
    assert metadata["artifact"]["sha256"] == sha256_file(published.path / "model.joblib")
    assert metadata["artifact"]["size_bytes"] == (published.path / "model.joblib").stat().st_size
    assert metadata["signature"]["outputs"] == ["setosa", "versicolor", "virginica"]
    assert set(metadata["framework"]) == {"python", "scikit-learn", "joblib", "numpy"}
    assert len(metadata["training_data"]["fingerprint"]) == 64
    assert read_latest(tmp_path, NAME) == "v1"
    leftovers = [p.name for p in (tmp_path / NAME).iterdir() if p.name.startswith(".staging")]
    assert leftovers == []


def test_versions_increase_and_loading_gets_latest(tmp_path, pipeline, fields):
    for _ in range(3):
        publish(tmp_path, NAME, pipeline, fields)
    assert list_versions(tmp_path, NAME) == ["v1", "v2", "v3"]
    loaded = load_verified(tmp_path, NAME)
    assert loaded.version == "v3"
    assert loaded.model.predict([[5.1, 3.5, 1.4, 0.2]]).tolist() == [0]
    assert load_verified(tmp_path, NAME, "v1").version == "v1"


def _publish_in_child(args):
    root, seed = args
    from training.cli import main

    return main(["--registry", root, "--seed", str(seed)])


def test_concurrent_publishers_never_overwrite_each_other(tmp_path):
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
    for version in versions:
        load_verified(tmp_path, NAME, version)


def test_failed_publish_leaves_no_trace(tmp_path, pipeline, fields, monkeypatch):
    publish(tmp_path, NAME, pipeline, fields)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="disk full"):
        publish(tmp_path, NAME, pipeline, fields)
    assert list_versions(tmp_path, NAME) == ["v1"]
    assert read_latest(tmp_path, NAME) == "v1"
    assert not [p for p in (tmp_path / NAME).iterdir() if p.name.startswith(".staging")]


def test_latest_never_moves_backwards(tmp_path, pipeline, fields):
    for _ in range(2):
        publish(tmp_path, NAME, pipeline, fields)
    assert set_latest(tmp_path, NAME, "v1", only_if_newer=True) is False
    assert read_latest(tmp_path, NAME) == "v2"
    assert set_latest(tmp_path, NAME, "v1") is True  # an explicit rollback may
    assert read_latest(tmp_path, NAME) == "v1"
    with pytest.raises(RegistryError, match=r"v9 has no metadata\.json"):
        set_latest(tmp_path, NAME, "v9")


def test_tampered_artifact_is_never_unpickled(tmp_path, pipeline, fields, monkeypatch):
    published = publish(tmp_path, NAME, pipeline, fields)
    with open(published.path / "model.joblib", "ab") as handle:
        handle.write(b"tampered")
    import joblib

    unpickled = []
    monkeypatch.setattr(joblib, "load", lambda *args, **kwargs: unpickled.append(args))
    with pytest.raises(RegistryError, match=r"metadata says .*refusing to load"):
        load_verified(tmp_path, NAME)
    assert unpickled == []


@pytest.mark.parametrize("pointer", ["../../etc", "v1/../../x", "/etc/passwd", "latest", "v01", ""])
def test_latest_cannot_escape_the_registry(tmp_path, pipeline, fields, pointer):
    publish(tmp_path, NAME, pipeline, fields)
    (tmp_path / NAME / "LATEST").write_text(pointer + "\n")
    with pytest.raises(RegistryError, match="invalid version"):
        load_verified(tmp_path, NAME)


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "UPPER", "x" * 80])
def test_model_names_are_checked(tmp_path, pipeline, fields, name):
    with pytest.raises(RegistryError, match="invalid model name"):
        publish(tmp_path, name, pipeline, fields)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 2}, "format_version"),
        ({"version": "v7"}, "another model or version"),
        ({"artifact": None}, "no valid artifact"),
    ],
)
def test_bad_metadata_is_refused(tmp_path, pipeline, fields, change, message):
    published = publish(tmp_path, NAME, pipeline, fields)
    path = published.path / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata.update(change)
    path.write_text(json.dumps(metadata))
    with pytest.raises(RegistryError, match=message):
        load_verified(tmp_path, NAME)


def test_empty_registry_says_so(tmp_path):
    assert read_latest(tmp_path, NAME) is None
    with pytest.raises(RegistryError, match="no model published yet"):
        load_verified(tmp_path, NAME)


def test_other_scikit_learn_version_is_refused(tmp_path, pipeline, fields, monkeypatch):
    import sklearn.base

    published = publish(tmp_path, NAME, pipeline, fields)
    assert published.version == "v1"
    # A pickle records the scikit-learn version it was made with; pretend to be another.
    monkeypatch.setattr(sklearn.base, "__version__", "0.0.1")
    with pytest.raises(RegistryError, match="Trying to unpickle"):
        load_verified(tmp_path, NAME)


def test_published_files_are_readable_by_others(tmp_path, pipeline, fields):
    published = publish(tmp_path, NAME, pipeline, fields)
    for path in [published.path, *Path(published.path).iterdir()]:
        assert path.stat().st_mode & 0o004, path


def test_versions_compare_as_numbers_never_as_text(tmp_path, pipeline, fields):
    for _ in range(10):
        publish(tmp_path, NAME, pipeline, fields)
    # As text, "v10" < "v9": LATEST would stay on v9 and v10 would sort first.
    assert read_latest(tmp_path, NAME) == "v10"
    assert list_versions(tmp_path, NAME) == [f"v{i}" for i in range(1, 11)]
    assert set_latest(tmp_path, NAME, "v9", only_if_newer=True) is False
    assert read_latest(tmp_path, NAME) == "v10"


def test_an_oversize_latest_is_refused_naming_it(tmp_path, pipeline, fields):
    publish(tmp_path, NAME, pipeline, fields)
    (tmp_path / NAME / "LATEST").write_text(" " * 100_000 + "v1\n")
    with pytest.raises(RegistryError, match="LATEST is larger than"):
        read_latest(tmp_path, NAME)


def test_an_oversize_metadata_file_is_refused_naming_it(tmp_path, pipeline, fields):
    published = publish(tmp_path, NAME, pipeline, fields)
    path = published.path / "metadata.json"
    path.write_text(path.read_text() + " " * (2 << 20))
    with pytest.raises(RegistryError, match=r"metadata\.json is larger than"):
        load_verified(tmp_path, NAME)


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


@pytest.fixture
def outside(tmp_path, pipeline, fields):
    """A complete, intact v2 of the same model, outside the registry under test."""
    elsewhere = tmp_path / "elsewhere"
    publish(elsewhere, NAME, pipeline, fields)
    publish(elsewhere, NAME, pipeline, fields)
    return elsewhere / NAME / "v2"


@pytest.fixture
def registry(tmp_path, pipeline, fields):
    root = tmp_path / "registry"
    publish(root, NAME, pipeline, fields)
    return root


def test_a_version_directory_linked_out_of_the_registry_is_refused(registry, outside):
    (registry / NAME / "v2").symlink_to(outside, target_is_directory=True)
    with pytest.raises(RegistryError, match="out of the registry"):
        load_verified(registry, NAME, "v2")
    with pytest.raises(RegistryError, match="out of the registry"):
        set_latest(registry, NAME, "v2")
    assert read_latest(registry, NAME) == "v1"


@pytest.mark.parametrize("file", ["metadata.json", "model.joblib"])
def test_a_file_linked_out_of_the_registry_is_refused(registry, outside, file):
    target = registry / NAME / "v1" / file
    copy = outside.parent / f"copy-of-{file}"
    copy.write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(copy)
    with pytest.raises(RegistryError, match=f"v1/{file} leads out of the registry"):
        load_verified(registry, NAME)


def test_latest_linked_out_of_the_registry_is_refused(registry, tmp_path):
    pointer = tmp_path / "pointer"
    pointer.write_text("v1\n")
    (registry / NAME / "LATEST").unlink()
    (registry / NAME / "LATEST").symlink_to(pointer)
    with pytest.raises(RegistryError, match="LATEST leads out of the registry"):
        read_latest(registry, NAME)


def test_a_registry_reached_through_a_symlink_still_loads(registry, tmp_path):
    link = tmp_path / "link-to-registry"
    link.symlink_to(registry, target_is_directory=True)
    assert load_verified(link, NAME).version == "v1"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("corrupt", "sha256 of model.joblib"),
        ("missing", "model.joblib"),
    ],
)
def test_set_latest_verifies_the_whole_version_first(registry, pipeline, fields, damage, message):
    publish(registry, NAME, pipeline, fields)
    artifact = registry / NAME / "v1" / "model.joblib"
    if damage == "corrupt":
        artifact.write_bytes(artifact.read_bytes() + b"\0")
    else:
        artifact.unlink()
    with pytest.raises(RegistryError, match=message):
        set_latest(registry, NAME, "v1")
    assert read_latest(registry, NAME) == "v2"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"created_at": 5}, "'created_at' is an integer, expected a string"),
        ({"metrics": "good"}, "'metrics' is a string, expected an object"),
        ({"signature": {"inputs": [1, 2], "outputs": ["a"]}}, "signature"),
        ({"artifact": {"file": "model.joblib", "size_bytes": 1}}, "artifact"),
        ({"format_version": True}, "format_version"),
    ],
)
def test_metadata_of_the_wrong_shape_is_refused(registry, change, message):
    path = registry / NAME / "v1" / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata.update(change)
    path.write_text(json.dumps(metadata))
    with pytest.raises(RegistryError, match=message):
        load_verified(registry, NAME)


def test_a_damaged_latest_is_repaired_by_an_explicit_set_latest(registry, pipeline, fields):
    publish(registry, NAME, pipeline, fields)
    (registry / NAME / "LATEST").write_text("garbage\n")
    assert set_latest(registry, NAME, "v1") is True
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


def test_publish_removes_old_litter_and_keeps_fresh(registry, pipeline, fields):
    directory = registry / NAME
    old, fresh = _litter(directory, 2 * HOURS), _litter(directory, 60)
    publish(registry, NAME, pipeline, fields)
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
