"""The floor: the model's own predict time, with no HTTP around it, measured inside the
images (labctl/probes/floor.py): scikit-learn's Pipeline in the training image, its ONNX
graph with serving's own runner in the serving image. The bench imports no product code.
"""

from __future__ import annotations

import json
from pathlib import Path

from invoke import Context

from labctl import docker
from labctl.settings import Settings

PROBE = Path(__file__).resolve().parent.parent / "probes" / "floor.py"


def _probe(c: Context, image: str, runtime: str, repeats: tuple[int, int], stdin: str = "") -> dict:
    # /tmp in the container: a tmpfs of its own, nothing of the host (S108 is about the host).
    options = ["--network", "none", "--read-only", "--tmpfs", "/tmp", "--entrypoint", "python"]  # noqa: S108
    if stdin:
        options.append("-i")
    command = ["-c", PROBE.read_text(), runtime, *map(str, repeats)]
    result = docker.run_image(c, image, *command, options=options, stdin=stdin)
    if not result.ok:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the floor probe failed in {image}: {last}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(c: Context, settings: Settings, quick: bool) -> dict:
    """Per runtime: predict_proba time for 1 row and for 1,000 rows (median of many runs)."""
    repeats = (200, 20) if quick else (2000, 200)
    trained = _probe(c, settings.image("training"), "scikit-learn", repeats)
    served = _probe(c, settings.image("serving"), "onnxruntime", repeats, stdin=json.dumps(trained))
    return {"scikit-learn": trained["floor"], "onnxruntime": served["floor"]}
