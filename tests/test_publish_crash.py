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

from model_registry import list_versions, load_verified, read_latest, verify_version
from model_registry.format import sha256_file

NAME = "iris-classifier"

# Publishes as fast as it can, forever, so a kill almost always lands inside a publish.
PUBLISHER = """
import json, sys, joblib
from pathlib import Path
from model_registry import publish
from model_registry.signing import load_signing_key
model = joblib.load(sys.argv[2])
fields = json.load(open(sys.argv[3]))
graph = Path(sys.argv[4]).read_bytes()
key = load_signing_key(Path(sys.argv[5]))
print("ready", flush=True)
while True:
    publish(sys.argv[1], "iris-classifier", model, fields, onnx_model=graph, signing_key=key,
            extra_files={"report.json": "{}"})
"""


def test_sigkill_during_publish_never_leaves_a_broken_latest(
    tmp_path, trained, fields, onnx_graph, settings_for_tests, trusted
):
    pipeline = trained[0]
    model_file, fields_file = tmp_path / "model.joblib", tmp_path / "fields.json"
    graph_file = tmp_path / "model.onnx"
    joblib.dump(pipeline, model_file)
    fields_file.write_text(json.dumps(fields))
    graph_file.write_bytes(onnx_graph)
    registry = tmp_path / "registry"
    rng = random.Random(20261126)
    arguments = [registry, model_file, fields_file, graph_file, settings_for_tests.signing_key]
    for _ in range(25):
        process = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, *map(str, arguments)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        # Whatever moment the kill hit: LATEST names a complete, signed version ...
        latest = read_latest(registry, NAME)
        if latest is not None:
            assert load_verified(registry, NAME, trusted=trusted).version == latest
        # ... and every published version is complete and signed; only staging dirs
        # may be left (the signature is written before the version is claimed).
        for version in list_versions(registry, NAME):
            directory = registry / NAME / version
            metadata = json.loads((directory / "metadata.json").read_text())
            assert metadata["version"] == version
            assert sha256_file(directory / "model.joblib") == metadata["artifact"]["sha256"]
            verify_version(registry, NAME, version, trusted)
    versions = list_versions(registry, NAME)
    assert len(versions) > 25, "the kills should have landed among many publishes"
    assert [int(v[1:]) for v in versions] == list(range(1, len(versions) + 1))
