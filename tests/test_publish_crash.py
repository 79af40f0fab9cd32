"""SIGKILL a publisher at every stage of a publish: readers never see a partial version.

The publisher runs in a child process whose MODEL_REGISTRY_PAUSE_AT names a stage (the
test hook of model_registry/FORMAT.md): it stops exactly there and says so, and only then
is it killed. So every case proves where the kill landed, and what the registry holds
afterwards is known, not hoped for.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import model_registry
from model_registry import list_versions, load_verified, publish, read_latest, verify_version
from model_registry.clean import STALE_AFTER_S, remove_litter
from model_registry.format import LATEST_FILE, LATEST_TMP_PREFIX, LOCK_FILE, STAGING_PREFIX
from model_registry.publish import PAUSE_STAGES, PAUSE_VARIABLE

NAME = "iris-classifier"
EXTRA_FILES = {"report.json": "{}\n"}
# Longest a publisher may take to reach its stage (it starts Python and unpickles a model).
PAUSE_TIMEOUT_S = 60
# The tree the child imports model_registry from: the one under test, whichever it is.
CODE_ROOT = Path(model_registry.__file__).resolve().parents[1]

# Publishes once, as training does; the environment says where to stop. The model is a
# stand-in for the Pipeline: its pickle is bytes like any other, and importing
# scikit-learn to unpickle the real one would only make every case slower.
PUBLISHER = """
import json, sys
from pathlib import Path
from model_registry import publish
from model_registry.signing import load_signing_key
registry, fields, graph, key = sys.argv[1:]
publish(registry, "iris-classifier", {"stand-in": "pipeline"},
        json.loads(Path(fields).read_text()), onnx_model=Path(graph).read_bytes(),
        signing_key=load_signing_key(Path(key)), extra_files={"report.json": "{}\\n"})
"""

ARTIFACTS = frozenset({"model.joblib", "model.onnx", "report.json"})


@dataclass(frozen=True)
class AfterKill:
    """What the model's directory holds once the publisher of v2 is killed at `stage`
    (v1 published before it): LATEST still names v1 at every stage."""

    stage: str
    versions: tuple[str, ...]
    # The files of the one .staging-* directory left behind; None: there is none.
    staged: frozenset[str] | None
    # The content of the one LATEST.tmp-* file left behind; None: there is none.
    latest_tmp: str | None


AFTER_KILL = [
    AfterKill("staging", ("v1",), ARTIFACTS, None),
    AfterKill("staged", ("v1",), ARTIFACTS | {"metadata.json", "signature.json"}, None),
    AfterKill("claimed", ("v1", "v2"), None, None),
    AfterKill("latest-tmp-created", ("v1", "v2"), None, ""),
    AfterKill("latest-tmp-written", ("v1", "v2"), None, "v2\n"),
]


def test_every_stage_of_the_hook_is_killed_at():
    assert [case.stage for case in AFTER_KILL] == list(PAUSE_STAGES)


@pytest.fixture
def publisher_inputs(tmp_path, fields, onnx_graph, settings_for_tests) -> list[str]:
    """The child publisher's arguments after the registry: the fields, the graph, the key."""
    fields_file, graph = tmp_path / "fields.json", tmp_path / "model.onnx"
    fields_file.write_text(json.dumps(fields))
    graph.write_bytes(onnx_graph)
    return [str(fields_file), str(graph), str(settings_for_tests.signing_key)]


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def kill_when_paused(arguments: list[str], stage: str) -> None:
    """Run the publisher until it pauses at stage, then SIGKILL it; fail if it never does."""
    env = {**os.environ, PAUSE_VARIABLE: stage, "PYTHONPATH": str(CODE_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    said: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(process.stderr, said), daemon=True).start()
    deadline, seen = time.monotonic() + PAUSE_TIMEOUT_S, []
    try:
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = said.get(timeout=left)
            except queue.Empty:
                break
            if line is None:  # the publisher ended without pausing
                break
            seen.append(line)
            if line.startswith(f"model_registry: paused at {stage} "):
                return
        pytest.fail(f"the publisher never paused at {stage}: {''.join(seen)[-2000:]}")
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()


def assert_readers_see_whole_versions(registry: Path, trusted) -> list[str]:
    """LATEST names a complete, signed, verifiable version (or nothing), every vN verifies,
    and whatever else is there is staging or LATEST.tmp litter: its names are returned."""
    versions = list_versions(registry, NAME)
    for version in versions:
        verify_version(registry, NAME, version, trusted)
    latest = read_latest(registry, NAME)
    if latest is not None:
        assert latest in versions
        assert load_verified(registry, NAME, trusted=trusted).version == latest
    others = sorted(
        path.name
        for path in (registry / NAME).iterdir()
        if path.name not in {LATEST_FILE, LOCK_FILE, *versions}
    )
    assert all(name.startswith((STAGING_PREFIX, LATEST_TMP_PREFIX)) for name in others), others
    return others


@pytest.mark.parametrize("expected", AFTER_KILL, ids=lambda case: case.stage)
def test_a_publisher_killed_at_any_stage_leaves_a_whole_registry(
    tmp_path, trained, fields, onnx_graph, signing_key, trusted, publisher_inputs, expected
):
    registry = tmp_path / "registry"

    def publish_in_process():
        return publish(
            registry,
            NAME,
            trained[0],
            fields,
            onnx_model=onnx_graph,
            signing_key=signing_key,
            extra_files=EXTRA_FILES,
        )

    assert publish_in_process().version == "v1"
    kill_when_paused([str(registry), *publisher_inputs], expected.stage)

    litter = assert_readers_see_whole_versions(registry, trusted)
    assert read_latest(registry, NAME) == "v1"
    assert tuple(list_versions(registry, NAME)) == expected.versions
    directory = registry / NAME
    staging = [directory / name for name in litter if name.startswith(STAGING_PREFIX)]
    tmp = [directory / name for name in litter if name.startswith(LATEST_TMP_PREFIX)]
    if expected.staged is None:
        assert staging == []
    else:
        assert len(staging) == 1 and {p.name for p in staging[0].iterdir()} == expected.staged
    if expected.latest_tmp is None:
        assert tmp == []
    else:
        assert len(tmp) == 1 and tmp[0].read_text() == expected.latest_tmp

    # The next publish is whole and moves LATEST; the litter goes once it is old enough.
    published = publish_in_process()
    assert published.version == f"v{len(expected.versions) + 1}" and published.latest_updated
    assert assert_readers_see_whole_versions(registry, trusted) == litter
    remove_litter(registry, NAME, now=time.time() + STALE_AFTER_S + 1)
    assert assert_readers_see_whole_versions(registry, trusted) == []
    assert read_latest(registry, NAME) == published.version
