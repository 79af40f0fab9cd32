"""Run every measurement of `inv bench` in one go, in a fixed order."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from invoke import Context

from labctl import base_image, docker
from labctl.bench import floor, images, native, report, serving
from labctl.settings import Settings


def _build_ours(c: Context, settings: Settings, python_image: str) -> None:
    """Build every service's image (the ones measured), quietly."""
    services = docker.services(c, settings)
    docker.compose(
        c, settings, ["build", *services], python_image=python_image, hide=True, echo=False
    )


def run(c: Context, settings: Settings, out: Path, quick: bool) -> list[Path]:
    """Measure floor, images, builds and serving; write the report; return its files."""
    started = time.monotonic()
    python_image = base_image.resolve(c, settings)
    full_image, naive_base = images.full_base(c, settings, python_image)
    print(f"bench: naive baseline on {full_image}; ours on {python_image}")
    results: dict = {
        "quick": quick,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": report.machine(),
        "docker": docker.server_version(c),
        "naive_base": naive_base,
    }
    print("bench: building the images measured")
    _build_ours(c, settings, python_image)
    print("bench: floor (the model alone, inside the images)")
    results["floor"] = floor.measure(c, settings, quick)
    with tempfile.TemporaryDirectory(prefix="labs-bench-") as workdir:
        print("bench: builds (cold, warm, code change, dependency change; ours and naive)")
        results["builds"] = images.build_times(
            c, settings, Path(workdir), python_image, full_image, cold_runs=1 if quick else 3
        )
    print("bench: the images measured, built again after the build timings")
    _build_ours(c, settings, python_image)
    images.compose_build(
        c,
        settings,
        ["naive", "mlserver", "bentoml"],
        python_image=python_image,
        full_image=full_image,
    )
    naive_image = f"{settings.image_prefix}/naive:bench"
    results["images"] = {
        "serving": images.describe(c, settings.image("serving"), "serving"),
        "training": images.describe(c, settings.image("training"), "training"),
        "naive": images.describe(c, naive_image, "naive"),
    }
    seconds = 2 if quick else 10
    print("bench: serving (wrk; ours, the classic lab, the ceilings, MLServer and BentoML)")
    results["serving"] = serving.measure(c, settings, seconds, naive_image)
    print("bench: ours natively (gunicorn from the host's venv, no container, no proxy)")
    with (
        tempfile.TemporaryDirectory(prefix="labs-bench-native-") as workdir,
        native.server(settings, Path(workdir)) as url,
    ):
        native_runs = serving.stability(c, f"{url}/predict", seconds)
    results["serving"]["stability"]["native"] = native_runs
    print("bench: inv lab2 (warm) to healthy")
    results["lab2_warm_s"] = serving.lab2_warm_seconds(c, settings)
    results["total_seconds"] = round(time.monotonic() - started)
    return report.write(results, out)
