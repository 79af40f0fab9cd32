"""Training: data, pipeline, report, and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from model_registry import load_verified
from training import cli, data
from training.cli import main, train
from training.evaluate import format_report
from training.model import build_pipeline
from training.settings import TrainingSettings


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
    _, _, first = train(settings_for_tests)
    _, _, second = train(settings_for_tests)
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


def test_cli_publishes_and_prints(tmp_path, capsys):
    assert main(["--registry", str(tmp_path), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "macro-F1" in out and "published iris-classifier v1" in out
    report = json.loads((tmp_path / "iris-classifier" / "v1" / "report.json").read_text())
    assert report["training_data"]["seed"] == 3


@pytest.mark.parametrize("model_type", ["logreg", "knn"])
def test_cli_publishes_an_onnx_graph_that_answers_like_the_pipeline(tmp_path, model_type):
    import onnxruntime

    assert main(["--registry", str(tmp_path), "--model", model_type]) == 0
    loaded = load_verified(tmp_path, "iris-classifier")
    assert loaded.metadata["framework"]["skl2onnx"]
    session = onnxruntime.InferenceSession(loaded.onnx, providers=["CPUExecutionProvider"])
    rows = np.random.default_rng(1).uniform(0, 8, (500, 4))
    got = session.run(["probabilities"], {"X": rows})[0]
    assert np.abs(got - loaded.model.predict_proba(rows)).max() <= 1e-9


def test_a_failed_onnx_export_still_publishes_the_model(tmp_path, capsys, monkeypatch):
    def refuse(pipeline, n_features):
        raise RuntimeError("converter says no")

    monkeypatch.setattr(cli, "export_onnx", refuse)
    assert main(["--registry", str(tmp_path)]) == 0
    assert "no ONNX export (converter says no)" in capsys.readouterr().err
    loaded = load_verified(tmp_path, "iris-classifier")
    assert loaded.onnx is None and "skl2onnx" not in loaded.metadata["framework"]


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
    assert "cannot publish" in result.stderr and "Traceback" not in result.stderr


def test_settings_come_from_the_environment():
    settings = TrainingSettings.from_env(
        {"MODEL_REGISTRY": "/r", "MODEL_NAME": "m", "MODEL_TYPE": "knn", "TRAINING_SEED": "5"}
    )
    assert (str(settings.registry), settings.model_name, settings.model_type, settings.seed) == (
        "/r",
        "m",
        "knn",
        5,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MODEL_TYPE", "forest"), ("TRAINING_TEST_SIZE", "0.9"), ("TRAINING_SEED", "-3")],
)
def test_out_of_range_environment_is_refused(variable, value):
    with pytest.raises(ValueError, match=variable):
        TrainingSettings.from_env({variable: value})
