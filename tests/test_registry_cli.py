"""python -m model_registry: list, verify (every artifact) and rollback."""

from __future__ import annotations

import json
import os
import time

import pytest

from model_registry import publish, read_latest
from model_registry.cli import main
from training.cli import metadata_fields

NAME = "iris-classifier"


@pytest.fixture
def registry(tmp_path, trained, settings_for_tests, onnx_graph):
    """v1 without model.onnx (as before ONNX export existed), v2 with it."""
    pipeline, dataset, report = trained
    fields = metadata_fields(settings_for_tests, dataset, report)
    publish(tmp_path, NAME, pipeline, fields)
    publish(tmp_path, NAME, pipeline, fields, onnx_model=onnx_graph)
    return tmp_path


def run(registry, *args) -> int:
    return main(["--registry", str(registry), *args])


def test_list_marks_latest_and_which_versions_have_onnx(registry, capsys):
    assert run(registry, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert "onnx" in lines[0]
    v1, v2 = lines[1].split(), lines[2].split()
    assert (v1[0], v1[4]) == ("v1", "no")
    assert (v2[:2], v2[5]) == (["*", "v2"], "yes")


def test_verify_passes_an_intact_registry(registry, capsys):
    assert run(registry, "verify") == 0
    assert capsys.readouterr().out.split() == ["ok", "v1", "ok", "v2"]


@pytest.mark.parametrize("damaged", ["model.joblib", "model.onnx"])
def test_verify_names_the_damaged_file(registry, capsys, damaged):
    with open(registry / NAME / "v2" / damaged, "ab") as handle:
        handle.write(b"\0")
    assert run(registry, "verify") == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok  v1"
    assert out[1].startswith("BAD v2") and f"sha256 of {damaged}" in out[1]


def test_rollback_moves_latest_and_refuses_unknown_versions(registry, capsys):
    assert run(registry, "rollback", "--to", "v1") == 0
    assert read_latest(registry, NAME) == "v1"
    assert "LATEST now points at v1 (was v2)" in capsys.readouterr().out
    assert run(registry, "rollback", "--to", "v9") == 1
    assert capsys.readouterr().err.startswith("model_registry: error: ")


def _damage_metadata(registry, version, change):
    path = registry / NAME / version / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata.update(change)
    path.write_text(json.dumps(metadata))


@pytest.mark.parametrize(
    "change",
    [
        {"created_at": 5},
        {"metrics": ["not", "an", "object"]},
        {"model_type": None},
        {"artifact": {"file": "model.joblib", "size_bytes": 1}},
    ],
)
def test_list_shows_metadata_of_the_wrong_shape_as_damaged(registry, capsys, change):
    _damage_metadata(registry, "v1", change)
    assert run(registry, "list") == 0
    v1, v2 = capsys.readouterr().out.splitlines()[1:]
    assert v1.split()[:2] == ["v1", "damaged:"]
    assert v2.split()[:2] == ["*", "v2"]


def test_verify_reports_a_missing_checksum_without_a_traceback(registry, capsys):
    _damage_metadata(registry, "v2", {"artifact": {"file": "model.joblib", "size_bytes": 1}})
    assert run(registry, "verify") == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok  v1" and out[1].startswith("BAD v2") and "artifact" in out[1]


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_rollback_refuses_a_damaged_version_and_leaves_latest(registry, capsys, damage):
    artifact = registry / NAME / "v1" / "model.joblib"
    if damage == "corrupt":
        artifact.write_bytes(artifact.read_bytes()[:-1])
    else:
        artifact.unlink()
    assert run(registry, "rollback", "--to", "v1") == 1
    err = capsys.readouterr().err
    assert err.startswith("model_registry: error: ") and "model.joblib" in err
    assert len(err.splitlines()) == 1
    assert read_latest(registry, NAME) == "v2"


def test_a_garbage_latest_is_listed_as_damaged_and_repaired_by_rollback(registry, capsys):
    (registry / NAME / "LATEST").write_bytes(b"\xff garbage \x00\n")
    assert run(registry, "list") == 0
    out = capsys.readouterr().out
    assert "LATEST is damaged" in out and "rollback --to" in out
    assert [line.split()[0] for line in out.splitlines()[1:3]] == ["v1", "v2"]
    assert run(registry, "verify") == 1
    assert "BAD LATEST" in capsys.readouterr().out
    assert run(registry, "rollback", "--to", "v2") == 0
    assert "LATEST now points at v2 (was damaged" in capsys.readouterr().out
    assert read_latest(registry, NAME) == "v2"


def test_verify_reports_latest_naming_a_missing_version(registry, capsys):
    (registry / NAME / "LATEST").write_text("v7\n")
    assert run(registry, "verify") == 1
    assert "BAD LATEST" in capsys.readouterr().out


def test_list_orders_v10_after_v9_and_marks_it(tmp_path, trained, settings_for_tests, capsys):
    pipeline, dataset, report = trained
    fields = metadata_fields(settings_for_tests, dataset, report)
    for _ in range(10):
        publish(tmp_path, NAME, pipeline, fields)
    assert run(tmp_path, "list") == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row[2:].split()[0] for row in rows][-2:] == ["v9", "v10"]
    assert rows[-1].startswith("* v10")


def test_clean_says_what_it_removed_and_keeps_fresh_litter(registry, capsys):
    directory = registry / NAME
    for name, age in ((".staging-old", 7200), (".staging-new", 10), ("LATEST.tmp-old", 7200)):
        path = directory / name
        if name.startswith(".staging"):
            path.mkdir()
        else:
            path.write_text("v1\n")
        os.utime(path, (time.time() - age, time.time() - age))
    assert run(registry, "clean") == 0
    out = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[:2] for line in out) == [
        ["removed", ".staging-old"],
        ["removed", "LATEST.tmp-old"],
    ]
    assert (directory / ".staging-new").is_dir() and read_latest(registry, NAME) == "v2"
    assert run(registry, "clean") == 0
    assert capsys.readouterr().out.startswith("nothing to clean")
