"""Images of the benchmark: ours against the naive baseline; sizes, layers, venvs, builds."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import uuid
from dataclasses import replace
from pathlib import Path

from invoke import Context

from labctl import base_image, docker
from labctl.settings import Settings

OFFICIAL_FULL = "python:3.11"
LOCAL_FULL = "mlops-docker-labs/python-full:3.11-bookworm"
BENCH_FILES = (docker.COMPOSE_FILE, "benchmarks/compose.bench.yaml")

# Where each image keeps its installed packages (the naive one installs system-wide).
PACKAGES_DIR = {
    "serving": "/opt/venv",
    "training": "/opt/venv",
    "naive": "python -c 'import os, sklearn; print(os.path.dirname(sklearn.__path__[0]))'",
}


def compose_build(c: Context, settings: Settings, services: list[str], *, python_image: str,
                  full_image: str = OFFICIAL_FULL, no_cache: bool = False) -> float:  # fmt: skip
    """Build services with BuildKit through Compose; return the seconds it took."""
    args = ["--profile", "bench", "build", *(["--no-cache"] if no_cache else []), *services]
    started = time.monotonic()
    docker.compose(
        c,
        settings,
        args,
        files=BENCH_FILES,
        python_image=python_image,
        env={"FULL_PYTHON_IMAGE": full_image},
        hide=True,
        echo=False,
    )
    return round(time.monotonic() - started, 2)


def full_base(c: Context, settings: Settings, python_image: str) -> tuple[str, str]:
    """The naive baseline's base: python:3.11, else a local stand-in built here."""
    if docker.image_exists(c, OFFICIAL_FULL) or base_image.try_pull(c, OFFICIAL_FULL) is None:
        return OFFICIAL_FULL, "official"
    if not docker.image_exists(c, LOCAL_FULL):
        print(f"!! {OFFICIAL_FULL} cannot be pulled; building the local stand-in {LOCAL_FULL}")
        compose_build(c, settings, ["full-base"], python_image=python_image)
    return (
        LOCAL_FULL,
        "local stand-in (slim base + the full image's compilers and headers)",
    )


def size(c: Context, image: str) -> int:
    return int(c.run(f"docker image inspect -f '{{{{.Size}}}}' {image}", hide=True).stdout)


def largest_layers(c: Context, image: str, count: int = 3) -> list[dict]:
    template = "{{.Size}}\t{{.CreatedBy}}"
    lines = c.run(
        f"docker history --no-trunc --human=false --format '{template}' {image}", hide=True
    ).stdout.splitlines()
    layers = [(int(size), created) for size, _, created in (line.partition("\t") for line in lines)]
    return [
        {"bytes": size, "instruction": " ".join(created.split())[:90]}
        for size, created in sorted(layers, reverse=True)[:count]
    ]


def packages_size(c: Context, image: str, service: str) -> int:
    where = PACKAGES_DIR[service]
    script = f'du -sb "$({where})"' if where.startswith("python") else f"du -sb {where}"
    result = c.run(
        f"docker run --rm --entrypoint sh {image} -c {shlex.quote(script)}",
        hide=True,
        warn=True,
    )
    return int(result.stdout.split()[0]) if result.ok and result.stdout.strip() else 0


def describe(c: Context, image: str, service: str) -> dict:
    return {
        "image": image,
        "bytes": size(c, image),
        "packages_bytes": packages_size(c, image, service),
        "largest_layers": largest_layers(c, image),
    }


def _tree_copy(settings: Settings, workdir: Path) -> Path:
    """A copy of the project's files (what git knows), to change without touching the tree."""
    tree = workdir / f"tree-{uuid.uuid4().hex[:6]}"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=settings.root, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in files:
        source = settings.root / name
        if source.is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
    return tree


def _append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def build_times(c: Context, settings: Settings, workdir: Path, python_image: str,
                full_image: str) -> dict:  # fmt: skip
    """Cold, warm, code-only and dependency-change rebuilds of ours and of the naive image.

    Cold means no layer cache and an empty pip cache mount. Each change is made in a
    copy of the tree, unique per run, so an earlier run's layers cannot be reused.
    """
    tree = _tree_copy(settings, workdir)
    bench = replace(settings, root=tree, image_prefix="labs-bench")
    stamp = uuid.uuid4().hex

    def both(**kwargs) -> dict:
        return {
            "ours": compose_build(c, bench, ["serving"], python_image=python_image, **kwargs),
            "naive": compose_build(
                c, bench, ["naive"], python_image=python_image, full_image=full_image, **kwargs
            ),
        }

    c.run("docker builder prune --force --filter type=exec.cachemount", hide=True, warn=True)
    times = {"cold": both(no_cache=True), "warm": both()}
    _append(tree / "app" / "routes" / "api.py", f"# code-only change {stamp}")
    _append(tree / "benchmarks" / "naive" / "app.py", f"# code-only change {stamp}")
    times["code_change"] = both()
    # A dependency change: the lock (ours) / requirements (naive) differ, so the install
    # layer is rebuilt; ours reinstalls from the warm pip cache mount.
    _append(tree / "requirements" / "serving.lock", f"# dependency change {stamp}")
    _append(tree / "benchmarks" / "naive" / "requirements.txt", f"# dependency change {stamp}")
    times["dependency_change"] = both()
    # The same dependency change for ours without the cache mount.
    dockerfile = tree / "docker" / "serving.Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace(
            "RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked \\", "RUN \\"
        )
    )
    _append(tree / "requirements" / "serving.lock", f"# dependency change again {stamp}")
    times["dependency_change_without_cache_mount"] = {
        "ours": compose_build(c, bench, ["serving"], python_image=python_image)
    }
    for service in ("serving", "naive"):
        tag = "bench" if service == "naive" else settings.version
        c.run(f"docker image rm --force labs-bench/{service}:{tag} labs-bench/{service}:latest",
              hide=True, warn=True)  # fmt: skip
    shutil.rmtree(tree, ignore_errors=True)
    return times
