"""SIGKILL a publisher at random moments: the registry never points at a partial version."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import joblib

from model_registry import list_versions, load_verified, read_latest
from model_registry.format import sha256_file
from training.cli import metadata_fields

NAME = "iris-classifier"

# Publishes as fast as it can, forever, so a kill almost always lands inside a publish.
PUBLISHER = """
import json, sys, joblib
from model_registry import publish
model = joblib.load(sys.argv[2])
fields = json.load(open(sys.argv[3]))
print("ready", flush=True)
while True:
    publish(sys.argv[1], "iris-classifier", model, fields, extra_files={"report.json": "{}"})
"""


def test_sigkill_during_publish_never_leaves_a_broken_latest(tmp_path, trained, settings_for_tests):
    pipeline, dataset, report = trained
    model_file, fields_file = tmp_path / "model.joblib", tmp_path / "fields.json"
    joblib.dump(pipeline, model_file)
    fields_file.write_text(json.dumps(metadata_fields(settings_for_tests, dataset, report)))
    registry = tmp_path / "registry"
    rng = random.Random(20261126)
    for _ in range(25):
        process = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(registry), str(model_file), str(fields_file)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        # Whatever moment the kill hit: LATEST names a complete, verified version ...
        latest = read_latest(registry, NAME)
        if latest is not None:
            assert load_verified(registry, NAME).version == latest
        # ... and every published version is complete; only staging dirs may be left.
        for version in list_versions(registry, NAME):
            directory = registry / NAME / version
            metadata = json.loads((directory / "metadata.json").read_text())
            assert metadata["version"] == version
            assert sha256_file(directory / "model.joblib") == metadata["artifact"]["sha256"]
    versions = list_versions(registry, NAME)
    assert len(versions) > 25, "the kills should have landed among many publishes"
    assert [int(v[1:]) for v in versions] == list(range(1, len(versions) + 1))
