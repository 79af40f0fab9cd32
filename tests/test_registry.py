"""The model registry: atomic, monotonic publishing and verified loading.

The signature's own guarantees (unsigned, untrusted, planted, replayed versions, key
rotation) are in test_signing.py.
"""

from __future__ import annotations

import errno
import importlib
import json
import multiprocessing
import os
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from model_registry import (
    Published,
    RegistryError,
    clean,
    list_versions,
    load,
    load_pipeline,
    load_trusted_keys,
    load_verified,
    publish,
    read_latest,
    read_metadata,
    set_latest,
    verify_version,
)
from model_registry.clean import STALE_AFTER_S, remove_litter
from model_registry.format import (
    FORMAT_VERSION,
    LATEST_TMP_PREFIX,
    METADATA_KEYS,
    METADATA_MAX_BYTES,
    sha256_file,
)
from model_registry.signing import sign
from training.model import build_pipeline

# The module (the package's `publish` is the function of that name).
publish_module = importlib.import_module("model_registry.publish")

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
    with pytest.raises(RegistryError, match=rf"^{NAME} v1: sha256 of model\.onnx .*refusing it"):
        load_verified(tmp_path, NAME, trusted=trusted)
    with pytest.raises(RegistryError, match=rf"^{NAME} v1: sha256 of model\.onnx .*refusing it"):
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
    with pytest.raises(RegistryError, match=rf"^{NAME} v1: .*{message}"):
        load_verified(tmp_path, NAME, trusted=trusted)
    with pytest.raises(RegistryError, match=rf"^{NAME} v1: .*{message}"):
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
    with pytest.raises(
        RegistryError, match=rf"^{NAME} v1: metadata and signature disagree on model\.onnx$"
    ):
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
    with pytest.raises(RegistryError, match=rf"^{NAME} v1: Trying to unpickle"):
        load_pipeline(tmp_path, NAME, trusted=trusted)
    # Serving does not care: it runs the graph, never the pickle.
    assert load_verified(tmp_path, NAME, trusted=trusted).version == "v1"


def test_published_files_are_readable_by_others(tmp_path, publish_as_training):
    """Serving reads the registry as another user; nothing published is executable, and
    only the publisher may write."""
    published = publish_as_training(tmp_path)
    files = [*Path(published.path).iterdir(), tmp_path / NAME / "LATEST"]
    assert {p.name for p in files} >= {"signature.json", "report.json", "model.onnx", "LATEST"}
    assert stat.S_IMODE(published.path.stat().st_mode) == 0o755
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


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


def _read_latest_in_child(root: Path) -> subprocess.CompletedProcess:
    """read_latest in a child limited to 512 MiB (DEV_ZERO_CHILD)."""
    return subprocess.run(
        [sys.executable, "-c", DEV_ZERO_CHILD, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_latest_linked_to_dev_zero_is_refused_without_reading_it(tmp_path):
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "LATEST").symlink_to("/dev/zero")
    result = _read_latest_in_child(tmp_path)
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.startswith("refused: ") and "LATEST" in result.stdout


def test_a_huge_latest_is_refused_without_reading_it(registry):
    """A LATEST of a sparse TiB, read by a child limited to 512 MiB: a reader without a
    size cap fails with MemoryError instead of saying what is wrong."""
    assert read_latest(registry, NAME) == "v1"  # the same reader, on a LATEST that is fine
    with open(registry / NAME / "LATEST", "r+b") as handle:
        handle.truncate(1 << 40)
    result = _read_latest_in_child(registry)
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout == f"refused: {NAME}/LATEST is larger than 64 bytes; not read\n"


def test_a_latest_that_is_not_a_regular_file_is_refused_naming_it(registry):
    latest = registry / NAME / "LATEST"
    latest.unlink()
    os.mkfifo(latest)
    with pytest.raises(RegistryError) as refused:
        read_latest(registry, NAME)
    assert str(refused.value) == f"{NAME}/LATEST is not a regular file"


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
    with pytest.raises(RegistryError, match=rf"^{NAME} v1: .*{message}"):
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


def test_metadata_and_signature_are_indented_for_people(tmp_path, publish_into):
    published = publish_into(tmp_path)
    for name in ("metadata.json", "signature.json"):
        text = (published.path / name).read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), indent=2) + "\n", name


def test_read_metadata_names_what_it_cannot_read(registry, monkeypatch):
    """What `list` shows for a damaged version: oversize, missing, unreadable."""
    path = registry / NAME / "v1" / "metadata.json"
    path.write_text(path.read_text() + " " * METADATA_MAX_BYTES)
    with pytest.raises(RegistryError) as refused:
        read_metadata(registry, NAME, "v1")
    assert str(refused.value) == (
        f"{NAME}/v1/metadata.json is larger than {METADATA_MAX_BYTES} bytes; not read"
    )
    path.unlink()
    with pytest.raises(RegistryError) as refused:
        read_metadata(registry, NAME, "v1")
    assert str(refused.value) == f"{NAME} v1 has no metadata.json"

    def failing_disk(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(load, "read_file", failing_disk)
    with pytest.raises(RegistryError) as refused:
        read_metadata(registry, NAME, "v1")
    assert str(refused.value) == (
        f"{NAME} v1: unreadable metadata.json: [Errno 5] Input/output error"
    )


def test_load_pipeline_loads_the_version_asked_for(registry, publish_as_training, trained, trusted):
    dataset = trained[1]
    knn = build_pipeline("knn", seed=0).fit(dataset.x_train, dataset.y_train)
    publish_as_training(registry, model=knn)
    assert read_latest(registry, NAME) == "v2"

    def classifier(version=None):
        pipeline = load_pipeline(registry, NAME, version, trusted=trusted)
        return type(pipeline.named_steps["classify"]).__name__

    assert classifier() == classifier("v2") == "KNeighborsClassifier"
    assert classifier("v1") == "LogisticRegression"


def test_a_pickle_swapped_after_the_whole_version_check_is_never_unpickled(
    registry, trusted, monkeypatch
):
    """load_pipeline unpickles the very bytes whose sha256 the signature vouches for: a
    model.joblib swapped once verify_version has passed is refused all the same."""
    import joblib

    check = load.verify_version

    def check_then_swap(*args, **kwargs):
        metadata = check(*args, **kwargs)
        (registry / NAME / "v1" / "model.joblib").write_bytes(b"swapped in after the check")
        return metadata

    unpickled = []
    monkeypatch.setattr(load, "verify_version", check_then_swap)
    monkeypatch.setattr(joblib, "load", lambda *args, **kwargs: unpickled.append(args))
    with pytest.raises(RegistryError, match=rf"^{NAME} v1: sha256 of model\.joblib is "):
        load_pipeline(registry, NAME, trusted=trusted)
    assert unpickled == []


def test_a_signed_pickle_that_does_not_load_is_refused_naming_the_version(
    registry, resign, trusted
):
    version = registry / NAME / "v1"
    (version / "model.joblib").write_bytes(b"signed, but not a pickle")
    metadata = json.loads((version / "metadata.json").read_text())
    metadata["artifact"].update(sha256=sha256_file(version / "model.joblib"), size_bytes=24)
    (version / "metadata.json").write_text(json.dumps(metadata))
    resign(version)
    with pytest.raises(RegistryError, match=rf"^{NAME} v1: cannot unpickle: "):
        load_pipeline(registry, NAME, trusted=trusted)


def test_only_a_scikit_learn_version_mismatch_refuses_a_pickle(registry, trusted, monkeypatch):
    """Other warnings while unpickling stay warnings."""
    import joblib

    def load_with_another_warning(*args, **kwargs):
        warnings.warn("something else worth knowing", UserWarning, stacklevel=1)
        return "the pipeline"

    monkeypatch.setattr(joblib, "load", load_with_another_warning)
    with pytest.warns(UserWarning, match="something else worth knowing"):
        assert load_pipeline(registry, NAME, trusted=trusted) == "the pipeline"


def test_an_old_staging_dir_holding_a_dangling_link_is_removed(registry):
    """A staging dir's age is its entries' own (links are not followed)."""
    staging, _ = _litter(registry / NAME, 2 * HOURS)
    link = staging / "link"
    link.symlink_to(registry / "nowhere")
    then = time.time() - 2 * HOURS
    os.utime(link, (then, then), follow_symlinks=False)
    os.utime(staging, (then, then))
    assert staging in remove_litter(registry, NAME).removed
    assert not staging.exists()


def test_publish_says_where_it_landed(tmp_path, publish_into):
    published = publish_into(tmp_path)
    path = tmp_path / NAME / "v1"
    assert published == Published(NAME, "v1", path, sha256_file(path / "model.joblib"), True)


def test_publish_names_every_missing_field(tmp_path, publish_into, fields):
    del fields["signature"], fields["onnx_proof"]
    with pytest.raises(RegistryError) as refused:
        publish_into(tmp_path)
    assert str(refused.value) == "metadata is missing signature, onnx_proof"


def test_a_publisher_that_loses_a_number_signs_and_claims_the_next(
    tmp_path, publish_into, trusted, monkeypatch
):
    """Another publisher took v1 between our look and our rename: we re-sign as v2."""
    publish_into(tmp_path)
    next_version = publish_module._next_version
    numbers = iter(["v1"])  # what a look taken just before the other rename saw

    def stale_then_fresh(*args):
        return next(numbers, None) or next_version(*args)

    monkeypatch.setattr(publish_module, "_next_version", stale_then_fresh)
    published = publish_into(tmp_path)
    assert (published.version, published.latest_updated) == ("v2", True)
    assert list_versions(tmp_path, NAME) == ["v1", "v2"] and read_latest(tmp_path, NAME) == "v2"
    signature = json.loads((published.path / "signature.json").read_text())
    assert sorted(signature["files"]) == ["metadata.json", "model.joblib", "model.onnx"]
    verify_version(tmp_path, NAME, "v2", trusted)
    assert [p.name for p in (tmp_path / NAME).iterdir() if p.name.startswith(".staging")] == []


def test_a_publisher_that_never_wins_a_number_gives_up_cleanly(tmp_path, publish_into, monkeypatch):
    publish_into(tmp_path)
    monkeypatch.setattr(publish_module, "MAX_CLAIM_ATTEMPTS", 3)
    monkeypatch.setattr(publish_module, "_next_version", lambda *args: "v1")
    with pytest.raises(RegistryError) as refused:
        publish_into(tmp_path)
    assert str(refused.value) == f"could not claim a version for {NAME} after many attempts"
    assert sorted(p.name for p in (tmp_path / NAME).iterdir()) == [".lock", "LATEST", "v1"]


def test_a_slow_publisher_never_moves_latest_backwards(tmp_path, publish_into, monkeypatch):
    """v2 is claimed, then v3 is published whole before v2's publisher updates LATEST."""
    publish_into(tmp_path)
    set_latest_now = publish_module.set_latest

    def overtaken(root, name, version, **kwargs):
        monkeypatch.setattr(publish_module, "set_latest", set_latest_now)
        assert publish_into(tmp_path).version == "v3"
        return set_latest_now(root, name, version, **kwargs)

    monkeypatch.setattr(publish_module, "set_latest", overtaken)
    slow = publish_into(tmp_path)
    assert (slow.version, slow.latest_updated) == ("v2", False)
    assert read_latest(tmp_path, NAME) == "v3"


def test_pointing_latest_where_it_points_changes_nothing(registry, trusted):
    before = (registry / NAME / "LATEST").stat()
    assert set_latest(registry, NAME, "v1", trusted=trusted) is False
    assert set_latest(registry, NAME, "v1", trusted=trusted, only_if_newer=True) is False
    after = (registry / NAME / "LATEST").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_failed_latest_update_leaves_latest_and_no_tmp_file(
    registry, publish_as_training, trusted, monkeypatch
):
    publish_as_training(registry)
    assert set_latest(registry, NAME, "v1", trusted=trusted) is True

    def full_disk(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        set_latest(registry, NAME, "v2", trusted=trusted)
    assert read_latest(registry, NAME) == "v1"
    assert sorted(p.name for p in (registry / NAME).iterdir()) == [".lock", "LATEST", "v1", "v2"]


# Publishes once with a non-ASCII extra file (its text read as UTF-8 from a file), under
# the locale its environment gives.
LOCALE_CHILD = """
import json, sys
from pathlib import Path
from model_registry import publish
from model_registry.signing import load_signing_key
registry, fields, graph, key, notes = sys.argv[1:]
publish(registry, "iris-classifier", {"stand-in": "pipeline"},
        json.loads(Path(fields).read_text()), onnx_model=Path(graph).read_bytes(),
        signing_key=load_signing_key(Path(key)),
        extra_files={"notes.txt": Path(notes).read_text(encoding="utf-8")})
"""


def test_extra_files_are_utf8_whatever_the_locale(
    tmp_path, publish_into, fields, onnx_graph, pipeline, signing_key, settings_for_tests
):
    """A publisher started with LANG unset (the C locale, ASCII) writes the same bytes."""
    text = "Iris virginica – pétales de 6 cm²\n"
    ours = publish(
        tmp_path / "ours",
        NAME,
        pipeline,
        fields,
        onnx_model=onnx_graph,
        signing_key=signing_key,
        extra_files={"notes.txt": text},
    )
    (tmp_path / "fields.json").write_text(json.dumps(fields))
    (tmp_path / "model.onnx").write_bytes(onnx_graph)
    (tmp_path / "notes.txt").write_text(text, encoding="utf-8")
    c_locale = {"LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    code_root = Path(load.__file__).resolve().parents[1]
    env = {**os.environ, **c_locale, "PYTHONPATH": str(code_root)}
    arguments = [
        tmp_path / "theirs",
        tmp_path / "fields.json",
        tmp_path / "model.onnx",
        settings_for_tests.signing_key,
        tmp_path / "notes.txt",
    ]
    result = subprocess.run(
        [sys.executable, "-c", LOCALE_CHILD, *map(str, arguments)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    theirs = tmp_path / "theirs" / NAME / "v1" / "notes.txt"
    assert theirs.read_bytes() == (ours.path / "notes.txt").read_bytes() == text.encode("utf-8")


def test_litter_goes_the_moment_it_is_stale_after_s_old(registry):
    tmp = registry / NAME / "LATEST.tmp-killed"
    tmp.write_text("v1\n")
    then = 1_700_000_000
    os.utime(tmp, (then, then))
    assert remove_litter(registry, NAME, now=then + STALE_AFTER_S - 1).removed == {}
    assert remove_litter(registry, NAME, now=then + STALE_AFTER_S).removed == {tmp: STALE_AFTER_S}
    assert not tmp.exists()


def test_litter_that_vanishes_or_resists_does_not_stop_the_clean(registry, monkeypatch):
    """Another cleaner took the first; the second cannot be removed; the third goes."""
    directory = registry / NAME
    names = [".staging-a-vanished", ".staging-b-resists", ".staging-c-stale"]
    for name in names:
        (directory / name).mkdir()
        os.utime(directory / name, (0, 0))
    last_change, remove = clean._last_change, clean._remove

    def vanished(path):
        if path.name == names[0]:
            raise FileNotFoundError(path)
        return last_change(path)

    def resists(path):
        if path.name == names[1]:
            raise PermissionError(errno.EACCES, "Permission denied")
        remove(path)

    monkeypatch.setattr(clean, "_last_change", vanished)
    monkeypatch.setattr(clean, "_remove", resists)
    cleaned = remove_litter(registry, NAME)
    assert list(cleaned.removed) == [directory / names[2]]
    assert cleaned.failed == [f"cannot remove {names[1]}: [Errno 13] Permission denied"]


def _sign_only(directory: Path, key, files: list[str]) -> None:
    """Sign these files of a version (and no others), as a holder of the key could."""
    hashes = {name: sha256_file(directory / name) for name in files}
    document = sign(key, NAME, directory.name, hashes)
    (directory / "signature.json").write_text(json.dumps(document, indent=2) + "\n")


def test_refusals_name_the_version_and_the_file(registry, resign, signing_key, trusted):
    """Every refusal starts with the model and version, then says what and which file."""
    version = registry / NAME / "v1"
    metadata_text = (version / "metadata.json").read_text()

    def refusal() -> str:
        with pytest.raises(RegistryError) as refused:
            load_verified(registry, NAME, trusted=trusted)
        return str(refused.value)

    (version / "metadata.json").write_text("[1, 2, 3]")
    resign(version)
    assert refusal() == f"{NAME} v1: metadata.json is not an object"
    (version / "metadata.json").write_text("{not json")
    resign(version)
    assert refusal().startswith(f"{NAME} v1: unreadable metadata.json: Expecting property name")
    (version / "metadata.json").write_text(metadata_text)
    _sign_only(version, signing_key, ["model.joblib", "model.onnx"])
    assert refusal() == f"{NAME} v1: metadata.json is not covered by the signature"
    resign(version)
    _rewrite_metadata(version, {"artifact": {"file": "model.joblib"}})
    resign(version)
    assert refusal() == (
        f"{NAME} v1: metadata has no valid artifact entry "
        "(file model.joblib, sha256 of 64 hex digits, size_bytes)"
    )


@pytest.mark.parametrize(
    ("file", "reader"),
    [
        ("model.onnx", "load_verified"),
        ("metadata.json", "load_verified"),
        ("report.json", "verify_version"),
    ],
)
def test_a_tampered_file_is_refused_with_both_sha256s(registry, trusted, file, reader):
    path = registry / NAME / "v1" / file
    expected = sha256_file(path)
    path.write_bytes(path.read_bytes() + b" ")
    actual = sha256_file(path)
    read = {
        "load_verified": lambda: load_verified(registry, NAME, trusted=trusted),
        "verify_version": lambda: verify_version(registry, NAME, "v1", trusted),
    }[reader]
    with pytest.raises(RegistryError) as refused:
        read()
    assert str(refused.value) == (
        f"{NAME} v1: sha256 of {file} is {actual[:12]}…, "
        f"the signature says {expected[:12]}…; refusing it"
    )


def test_an_unreadable_signature_is_refused_naming_it(registry, trusted, monkeypatch):
    read = load.read_file

    def failing_disk(root, path, *args):
        if path.name == "signature.json":
            raise OSError(errno.EIO, "Input/output error")
        return read(root, path, *args)

    monkeypatch.setattr(load, "read_file", failing_disk)
    with pytest.raises(RegistryError) as refused:
        load_verified(registry, NAME, trusted=trusted)
    assert str(refused.value) == (
        f"{NAME} v1: unreadable signature.json: [Errno 5] Input/output error"
    )


@pytest.mark.parametrize(("size", "loads"), [(0, True), (-1, False)])
def test_a_file_entry_gives_a_size_of_zero_or_more(registry, resign, trusted, size, loads):
    metadata = json.loads((registry / NAME / "v1" / "metadata.json").read_text())
    _rewrite_metadata(registry / NAME / "v1", {"onnx": {**metadata["onnx"], "size_bytes": size}})
    resign(registry / NAME / "v1")
    if loads:
        assert load_verified(registry, NAME, trusted=trusted).metadata["onnx"]["size_bytes"] == 0
    else:
        with pytest.raises(RegistryError, match=rf"^{NAME} v1: metadata has no valid onnx entry"):
            load_verified(registry, NAME, trusted=trusted)


# ------------------------------------------- what mutation testing found untested


def test_latest_unreadable_or_not_ascii_is_refused_naming_it(tmp_path, publish_into, monkeypatch):
    publish_into(tmp_path)
    latest = tmp_path / NAME / "LATEST"
    latest.write_bytes(b"v\xff1\n")
    with pytest.raises(RegistryError, match=r"^LATEST is not ASCII text$"):
        read_latest(tmp_path, NAME)

    def unreadable(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(load, "read_file", unreadable)
    with pytest.raises(RegistryError, match=r"^cannot read LATEST: .*Permission denied"):
        read_latest(tmp_path, NAME)


def test_a_name_with_two_dots_in_a_row_is_refused(tmp_path, publish_into):
    with pytest.raises(RegistryError, match=r"invalid model name 'iris\.\.x'"):
        publish_into(tmp_path, "iris..x")
    assert publish_into(tmp_path, "iris.x").version == "v1"  # one dot is a name


def test_a_file_of_exactly_the_limit_is_read_and_one_byte_more_is_not(tmp_path):
    from model_registry.files import read_file

    path = tmp_path / "f"
    path.write_bytes(b"x" * 64)
    assert read_file(tmp_path, path, 64) == b"x" * 64
    path.write_bytes(b"x" * 65)
    with pytest.raises(RegistryError, match=r"^f is larger than 64 bytes; not read$"):
        read_file(tmp_path, path, 64)


def test_a_path_out_of_the_registry_is_named_as_given(tmp_path):
    from model_registry.files import read_file

    (tmp_path / "registry").mkdir()
    with pytest.raises(RegistryError, match=r"^/etc/hostname leads out of the registry"):
        read_file(tmp_path / "registry", Path("/etc/hostname"))


def test_the_original_error_surfaces_even_when_the_staging_folder_is_gone(
    tmp_path, publish_into, monkeypatch
):
    """Clean-up after a failed publish never hides why it failed."""
    import shutil

    publishing = importlib.import_module("model_registry.publish")

    def vanish_and_fail(staging, *args):
        shutil.rmtree(staging)
        raise RegistryError("signing failed")

    monkeypatch.setattr(publishing, "_sign_staging", vanish_and_fail)
    with pytest.raises(RegistryError, match=r"^signing failed$"):
        publish_into(tmp_path)
    assert list_versions(tmp_path, NAME) == []


def test_an_interrupt_right_after_latest_is_replaced_propagates(
    tmp_path, publish_into, trusted, monkeypatch
):
    """Ctrl-C between the replace and the end of _replace_latest: the temporary file is
    already LATEST, so clean-up finds nothing to remove and the interrupt goes on."""
    publishing = importlib.import_module("model_registry.publish")
    for _ in range(2):
        publish_into(tmp_path)
    replace = os.replace

    def replace_then_interrupt(source, target):
        replace(source, target)
        raise KeyboardInterrupt

    monkeypatch.setattr(publishing.os, "replace", replace_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        set_latest(tmp_path, NAME, "v1", trusted=trusted)
    monkeypatch.undo()
    assert read_latest(tmp_path, NAME) == "v1"
    assert not [p for p in (tmp_path / NAME).iterdir() if p.name.startswith(LATEST_TMP_PREFIX)]
