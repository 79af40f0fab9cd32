"""Training: data, pipeline, report, and the command line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from model_registry import (
    list_versions,
    load_pipeline,
    load_trusted_keys,
    load_verified,
    verify_version,
)
from model_registry.cli import main as registry_cli
from training import cli, data
from training import train as training_step
from training.cli import main
from training.evaluate import format_report
from training.export_onnx import EQUAL_WITHIN, PROBE_ROWS, NotEqual, export_onnx
from training.model import build_pipeline
from training.settings import TrainingSettings

NAME = "iris-classifier"
NOT_PUBLISHED = "training: error: not published: no ONNX graph answers as the pipeline does"


def test_split_is_stratified_and_repeatable():
    first, second = data.load(7, 0.2), data.load(7, 0.2)
    assert np.array_equal(first.x_test, second.x_test)
    assert len(first.y_test) == 30
    assert np.bincount(first.y_test).tolist() == [10, 10, 10]
    assert first.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert first.class_names == ["setosa", "versicolor", "virginica"]


def test_fingerprint_changes_with_the_data():
    x = np.arange(8.0).reshape(4, 2)
    y = np.array([0, 1, 0, 1])
    assert data.fingerprint(x, y) == data.fingerprint(x.copy(), y.copy())
    x[0, 0] = 99.0
    assert data.fingerprint(x, y) != data.fingerprint(np.arange(8.0).reshape(4, 2), y)


@pytest.mark.parametrize(
    ("model_type", "estimator"), [("logreg", "LogisticRegression"), ("knn", "KNeighborsClassifier")]
)
def test_pipeline_carries_its_scaler(model_type, estimator):
    pipeline = build_pipeline(model_type, seed=1)
    assert isinstance(pipeline, Pipeline)
    assert [type(step).__name__ for _, step in pipeline.steps] == ["StandardScaler", estimator]


def test_unknown_model_type_is_refused():
    with pytest.raises(ValueError, match="unknown model type"):
        build_pipeline("forest", seed=1)


def test_same_seed_same_metrics(settings_for_tests):
    _, _, first = training_step.train(settings_for_tests)
    _, _, second = training_step.train(settings_for_tests)
    assert first == second
    assert first["accuracy"] > 0.85


def test_report_is_complete(trained):
    _, dataset, report = trained
    assert set(report) == {"accuracy", "macro_f1", "per_class", "confusion_matrix"}
    assert set(report["per_class"]) == set(dataset.class_names)
    matrix = np.array(report["confusion_matrix"]["rows_true_columns_predicted"])
    assert matrix.shape == (3, 3)
    assert matrix.sum() == len(dataset.y_test)
    assert np.trace(matrix) / matrix.sum() == pytest.approx(report["accuracy"], abs=1e-6)
    text = format_report(report, "iris")
    assert "accuracy" in text and "virginica" in text and "confusion matrix" in text


def test_cli_publishes_and_prints(tmp_path, capsys, signing_key):
    assert main(["--registry", str(tmp_path), "--seed", "3"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "macro-F1" in out and "published iris-classifier v1" in out
    published = [line for line in out.splitlines() if line.startswith("published ")]
    assert len(published) == 1
    assert published[0].startswith(f"published iris-classifier v1 to {tmp_path / NAME / 'v1'} ")
    assert f", signed by {signing_key.key_id}); LATEST now points at it" in published[0]
    assert "made signing key" not in captured.err  # the session's key exists already
    report = json.loads((tmp_path / "iris-classifier" / "v1" / "report.json").read_text())
    assert report["training_data"]["seed"] == 3


def test_report_json_printed_json_and_metadata_agree(tmp_path, capsys):
    """One record of the run: --json prints it, report.json holds it, and metadata.json
    has every one of its fields with the same value (publish adds its own beside them)."""
    assert main(["--registry", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    version = tmp_path / NAME / "v1"
    report = json.loads((version / "report.json").read_text())
    metadata = json.loads((version / "metadata.json").read_text())
    assert printed == report
    assert {key: metadata[key] for key in report} == report
    assert report["framework"]["skl2onnx"] and report["onnx_proof"]["probe_rows"] == PROBE_ROWS


@pytest.mark.parametrize("model_type", ["logreg", "knn"])
def test_cli_publishes_an_onnx_graph_that_answers_like_the_pipeline(tmp_path, model_type, trusted):
    import onnxruntime

    assert main(["--registry", str(tmp_path), "--model", model_type]) == 0
    loaded = load_verified(tmp_path, "iris-classifier", trusted=trusted)
    assert loaded.metadata["framework"]["skl2onnx"]
    proof = loaded.metadata["onnx_proof"]
    assert (proof["probe_rows"], proof["equal_within"]) == (PROBE_ROWS, EQUAL_WITHIN)
    assert 0 <= proof["max_abs_difference"] <= EQUAL_WITHIN and proof["onnxruntime"]
    session = onnxruntime.InferenceSession(loaded.onnx, providers=["CPUExecutionProvider"])
    rows = np.random.default_rng(1).uniform(0, 8, (500, 4))
    got = session.run(["probabilities"], {"X": rows})[0]
    pipeline = load_pipeline(tmp_path, "iris-classifier", trusted=trusted)
    assert np.abs(got - pipeline.predict_proba(rows)).max() <= EQUAL_WITHIN


def _graph_of_another_model(pipeline, n_features):
    """A graph that loads and runs, but answers as another model does (a real NotEqual)."""
    dataset = data.load(0, 0.25)
    other = build_pipeline("knn", seed=0).fit(dataset.x_train, dataset.y_train)
    return export_onnx(other, n_features)


def _converter_refuses(pipeline, n_features):
    raise RuntimeError("converter says no")


def _proof_refuses(pipeline, graph, n_features):
    raise NotEqual("the graph differs from scikit-learn by up to 0.5")


@pytest.mark.parametrize(
    ("target", "replacement", "reason"),
    [
        ("export_onnx", _converter_refuses, "converter says no"),
        ("prove_equal", _proof_refuses, "differs from scikit-learn by up to 0.5"),
        ("export_onnx", _graph_of_another_model, "differs from scikit-learn by up to"),
    ],
)
def test_training_publishes_nothing_without_a_proven_graph(
    tmp_path, capsys, monkeypatch, target, replacement, reason
):
    monkeypatch.setattr(cli, target, replacement)
    assert main(["--registry", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(NOT_PUBLISHED) and reason in lines[0]
    assert "Traceback" not in captured.err and "published" not in captured.out
    assert list_versions(tmp_path, NAME) == []
    assert not (tmp_path / NAME / "LATEST").exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


class _Unconvertible(LogisticRegression):
    """An estimator skl2onnx has no converter for (as any custom estimator would be)."""


def test_a_real_converter_refusal_is_one_line(tmp_path, capsys, monkeypatch):
    def unconvertible(model_type, seed):
        pipeline = build_pipeline(model_type, seed)
        pipeline.steps[-1] = (pipeline.steps[-1][0], _Unconvertible(max_iter=1000))
        return pipeline

    monkeypatch.setattr(training_step, "build_pipeline", unconvertible)
    assert main(["--registry", str(tmp_path)]) == 1
    assert list_versions(tmp_path, NAME) == []
    err = capsys.readouterr().err
    assert err.startswith(NOT_PUBLISHED)
    assert err.count("\n") == 1, err


def test_training_makes_its_signing_key_on_first_use_then_reuses_it(tmp_path, capsys, monkeypatch):
    private_path, trusted_dir = tmp_path / "signing" / "signing-key.pem", tmp_path / "trusted"
    root = tmp_path / "registry"
    monkeypatch.setenv("MODEL_SIGNING_KEY", str(private_path))
    monkeypatch.setenv("MODEL_TRUSTED_KEYS", str(trusted_dir))
    assert main(["--registry", str(root)]) == 0
    captured = capsys.readouterr()
    trusted = load_trusted_keys(trusted_dir)
    assert len(trusted) == 1
    (key,) = trusted
    assert captured.err == (
        f"training: made signing key {key} ({private_path}); "
        f"its public half is trusted in {trusted_dir}\n"
    )
    assert f"signed by {key})" in captured.out
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    pem = private_path.read_bytes()

    assert main(["--registry", str(root), "--json"]) == 0
    captured = capsys.readouterr()
    assert "made signing key" not in captured.err
    assert f"signed by {key})" in captured.err  # --json: the notes go to stderr
    assert private_path.read_bytes() == pem and set(load_trusted_keys(trusted_dir)) == {key}
    for version in ("v1", "v2"):
        verify_version(root, NAME, version, load_trusted_keys(trusted_dir))
        signature = json.loads((root / NAME / version / "signature.json").read_text())
        assert signature["key_id"] == key
    assert (
        registry_cli(["--registry", str(root), "--trusted-keys", str(trusted_dir), "verify"]) == 0
    )
    assert capsys.readouterr().out.split() == ["ok", "v1", "ok", "v2"]


@pytest.mark.parametrize("problem", ["garbage key", "key folder is a file"])
def test_a_signing_key_that_cannot_be_used_is_one_line_and_publishes_nothing(
    tmp_path, capsys, monkeypatch, problem
):
    blocker = tmp_path / "blocker"
    if problem == "garbage key":
        blocker.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
        private_path = blocker
    else:
        blocker.write_text("a file, not a folder")
        private_path = blocker / "signing-key.pem"
    monkeypatch.setenv("MODEL_SIGNING_KEY", str(private_path))
    monkeypatch.setenv("MODEL_TRUSTED_KEYS", str(tmp_path / "trusted"))
    assert main(["--registry", str(tmp_path / "registry")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("training: error: ") and err.count("\n") == 1, err
    assert list_versions(tmp_path / "registry", NAME) == []


def test_cli_json_report_and_no_publish(tmp_path, capsys):
    assert main(["--registry", str(tmp_path), "--no-publish", "--json", "--model", "knn"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["model_type"] == "knn"
    assert not (tmp_path / "iris-classifier").exists()


def test_cli_json_publishing_keeps_stdout_pure_json(tmp_path, capsys):
    assert main(["--registry", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["model_type"] == "logreg"
    assert "published iris-classifier v1" in captured.err


def test_cli_json_into_a_closed_pipe_still_publishes_without_a_traceback(tmp_path):
    """`python -m training --json | head -0`: the reader is gone before the report."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        trainer = subprocess.run(
            [sys.executable, "-m", "training", "--registry", str(tmp_path), "--json"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    assert trainer.returncode == 0, trainer.stderr
    assert "Traceback" not in trainer.stderr and "BrokenPipe" not in trainer.stderr
    assert "published iris-classifier v1" in trainer.stderr
    assert (tmp_path / "iris-classifier" / "LATEST").read_text().strip() == "v1"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--model", "forest"], "invalid choice"),
        (["--test-size", "0.9"], "between 0.05 and 0.5"),
        (["--seed", "-1"], "between 0 and"),
        (["--seed", "abc"], "invalid _seed value"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, fragment):
    result = subprocess.run(
        [sys.executable, "-m", "training", *argv], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TRAINING_SEED", "-1"), ("TRAINING_TEST_SIZE", "0.9"), ("MODEL_TYPE", "x")],
)
def test_the_environment_and_the_command_line_share_one_range_check(variable, value):
    """Each range is declared once (training/settings.py): an out-of-range value is
    refused with the same words from either side."""
    with pytest.raises(ValueError) as from_env:
        TrainingSettings.from_env({variable: value})
    option = {"TRAINING_SEED": "--seed", "TRAINING_TEST_SIZE": "--test-size"}.get(variable)
    if option is None:  # the model types: argparse's choices are the same tuple
        assert str(from_env.value) == "MODEL_TYPE='x': choose logreg or knn"
        return
    result = subprocess.run(
        [sys.executable, "-m", "training", option, value], capture_output=True, text=True
    )
    words = str(from_env.value).removeprefix(f"{variable}: ")
    assert words.startswith("must be between ") and words in result.stderr


def test_bad_environment_gives_one_line_and_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "training", "--no-publish"],
        capture_output=True,
        text=True,
        check=False,
        env={"TRAINING_SEED": "many", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "bad environment setting" in result.stderr


def test_unwritable_registry_is_one_line_and_exit_1(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = subprocess.run(
        [sys.executable, "-m", "training", "--registry", str(blocker)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "not published" in result.stderr and "Traceback" not in result.stderr


def test_settings_come_from_the_environment():
    settings = TrainingSettings.from_env(
        {
            "MODEL_REGISTRY": "/r",
            "MODEL_NAME": "m",
            "MODEL_TYPE": "knn",
            "TRAINING_SEED": "5",
            "MODEL_SIGNING_KEY": "/k/key.pem",
            "MODEL_TRUSTED_KEYS": "/k/trusted",
        }
    )
    assert (str(settings.registry), settings.model_name, settings.model_type, settings.seed) == (
        "/r",
        "m",
        "knn",
        5,
    )
    assert (settings.signing_key, settings.trusted_keys) == (Path("/k/key.pem"), Path("/k/trusted"))


def test_the_keys_default_to_the_images_volumes():
    settings = TrainingSettings.from_env({})
    assert settings.signing_key == Path("/signing/signing-key.pem")
    assert settings.trusted_keys == Path("/trusted-keys")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MODEL_TYPE", "forest"), ("TRAINING_TEST_SIZE", "0.9"), ("TRAINING_SEED", "-3")],
)
def test_out_of_range_environment_is_refused(variable, value):
    with pytest.raises(ValueError, match=variable):
        TrainingSettings.from_env({variable: value})
