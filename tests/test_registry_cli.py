"""python -m model_registry: list, verify (every artifact) and rollback."""

from __future__ import annotations

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
    assert out[1].startswith("BAD v2") and f"{damaged}: sha256" in out[1]


def test_rollback_moves_latest_and_refuses_unknown_versions(registry, capsys):
    assert run(registry, "rollback", "--to", "v1") == 0
    assert read_latest(registry, NAME) == "v1"
    assert "LATEST now points at v1 (was v2)" in capsys.readouterr().out
    assert run(registry, "rollback", "--to", "v9") == 1
    assert capsys.readouterr().err.startswith("model_registry: error: ")
