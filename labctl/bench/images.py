"""Images of the benchmark: ours against the naive baseline; sizes, layers, venvs, builds."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import statistics
import subprocess
import time
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from invoke import Context

from labctl import base_image, docker, locks
from labctl.bench.fetch_meter import FetchMeter, bridge_address
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


class Built(NamedTuple):
    """How long a build took, and its plain BuildKit log."""

    seconds: float
    log: str


def compose_build(
    c: Context,
    settings: Settings,
    services: list[str],
    *,
    python_image: str,
    full_image: str = OFFICIAL_FULL,
    no_cache: bool = False,
    proxy: str = "",
) -> Built:
    """Build services with BuildKit through Compose; return the time it took and its log.

    proxy: the HTTPS proxy the build's downloads go through (BuildKit's predefined
    build argument: not part of the cache key).
    """
    args = ["--progress", "plain", "--profile", "bench", "build"]
    args += [*(["--no-cache"] if no_cache else [])]
    args += [*(["--build-arg", f"HTTPS_PROXY={proxy}"] if proxy else []), *services]
    started = time.monotonic()
    result = docker.compose(
        c,
        settings,
        args,
        files=BENCH_FILES,
        python_image=python_image,
        env={"FULL_PYTHON_IMAGE": full_image},
        hide=True,
        echo=False,
    )
    return Built(round(time.monotonic() - started, 2), result.stdout + result.stderr)


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
    return int(docker.inspect(c, image, "{{.Size}}") or 0)


def largest_layers(c: Context, image: str, count: int = 3) -> list[dict]:
    template = "{{.Size}}\t{{.CreatedBy}}"
    lines = docker.history(c, image, template).splitlines()
    layers = [(int(size), created) for size, _, created in (line.partition("\t") for line in lines)]
    return [
        {"bytes": size, "instruction": " ".join(created.split())[:90]}
        for size, created in sorted(layers, reverse=True)[:count]
    ]


def packages_size(c: Context, image: str, service: str) -> int:
    where = PACKAGES_DIR[service]
    script = f'du -sb "$({where})"' if where.startswith("python") else f"du -sb {where}"
    result = docker.run_image(c, image, "-c", script, options=["--entrypoint", "sh"])
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
        cwd=settings.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        source = settings.root / name
        if source.is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
    return tree


def _append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


# The one-package change of the dependency-change builds: this package, one release back
# (a Dependabot-style bump in reverse), in our lock and in the naive requirements alike.
CHANGED_PACKAGE = "flask"


def one_package_change(c: Context, tree: Path) -> tuple[str, str]:
    """Pin CHANGED_PACKAGE one release back in the tree's serving lock (hashes and all,
    with uv, every other pin kept) and in the naive requirements; return (old, new)."""
    lock = tree / locks.LOCKS["serving"]
    current = locks.pins(lock)[CHANGED_PACKAGE]
    constraint = tree / "bench-constraint.txt"
    constraint.write_text(f"{CHANGED_PACKAGE}<{current}\n")
    command = locks.compile_command(tree / "pyproject.toml", "serving", lock)
    c.run(f"{command} --constraint {shlex.quote(str(constraint))}", hide=True)
    changed = locks.pins(lock)[CHANGED_PACKAGE]
    _append(tree / "benchmarks" / "naive" / "requirements.txt", f"{CHANGED_PACKAGE}=={changed}")
    return current, changed


def wheel_bytes(package: str, version: str) -> int:
    """Size of the package's wheel, from PyPI's simple index in its JSON form (PEP 691 and
    700): the same index uv reads."""
    request = urllib.request.Request(
        f"https://pypi.org/simple/{package}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - fixed https
        files = json.load(response)["files"]
    prefix = f"{package.replace('-', '_')}-{version}-"
    wheels = [
        f for f in files if f["filename"].startswith(prefix) and f["filename"].endswith(".whl")
    ]
    return max(wheel["size"] for wheel in wheels)


# uv's summary line in a build log: how many packages it had to download (or build).
_PREPARED = re.compile(r"Prepared (\d+) packages? in")


def packages_prepared(log: str) -> int:
    """How many packages uv downloaded in a build, from its summary line (0 when none)."""
    return sum(int(count) for count in _PREPARED.findall(log))


def build_times(
    c: Context,
    settings: Settings,
    workdir: Path,
    python_image: str,
    full_image: str,
    cold_runs: int = 3,
) -> dict:
    """Cold, warm, code-only and one-package-change rebuilds of ours and of the naive image.

    Cold means no layer cache and empty cache mounts, measured cold_runs times each,
    alternating, the median kept. Each change is made in a copy of the tree, unique per
    run, so an earlier run's layers cannot be reused. The dependency-change builds go
    through a FetchMeter, which counts the bytes they download.
    """
    tree = _tree_copy(settings, workdir)
    bench = replace(settings, root=tree, image_prefix="labs-bench")
    stamp = uuid.uuid4().hex

    def build(service: str, **kwargs) -> Built:
        full = {"full_image": full_image} if service == "naive" else {}
        return compose_build(c, bench, [service], python_image=python_image, **full, **kwargs)

    def once(service: str, **kwargs) -> float:
        return build(service, **kwargs).seconds

    def both(**kwargs) -> dict:
        return {"ours": once("serving", **kwargs), "naive": once("naive", **kwargs)}

    runs: dict[str, list[float]] = {"ours": [], "naive": []}
    for _ in range(cold_runs):
        # Ours last: its cold build leaves uv's cache mount filled, as any build of ours
        # does, for the one-package change below.
        for who, service in (("naive", "naive"), ("ours", "serving")):
            docker.prune_cache_mounts(c)
            runs[who].append(once(service, no_cache=True))
    times = {
        "cold": {who: statistics.median(values) for who, values in runs.items()},
        "cold_runs": runs,
        "warm": both(),
    }
    _append(tree / "app" / "routes" / "api.py", f"# code-only change {stamp}")
    _append(tree / "benchmarks" / "naive" / "app.py", f"# code-only change {stamp}")
    times["code_change"] = both()

    old, new = one_package_change(c, tree)
    with FetchMeter(bridge_address()) as meter:
        proxy = {"proxy": meter.url}
        ours, ours_log = build("serving", **proxy)
        ours_bytes = meter.downloaded
        meter.reset()
        naive = once("naive", **proxy)
        naive_bytes = meter.downloaded
        # The same change once more, built without uv's cache mount.
        dockerfile = tree / "docker" / "serving.Dockerfile"
        text = dockerfile.read_text()
        mount = "RUN --mount=type=cache,target=/root/.cache/uv,sharing=locked \\\n    "
        if mount not in text:
            raise RuntimeError("serving.Dockerfile: the uv cache mount line moved; update bench")
        dockerfile.write_text(text.replace(mount, "RUN "))
        meter.reset()
        without = once("serving", **proxy)
        without_bytes = meter.downloaded
    times["dependency_change"] = {
        "ours": ours,
        "naive": naive,
        "package": f"{CHANGED_PACKAGE} {old} -> {new}",
        "package_wheel_bytes": wheel_bytes(CHANGED_PACKAGE, new),
        "packages_downloaded": packages_prepared(ours_log),
        "fetched_bytes": {"ours": ours_bytes, "naive": naive_bytes},
    }
    times["dependency_change_without_cache_mount"] = {
        "ours": without,
        "fetched_bytes": {"ours": without_bytes},
    }
    for service in ("serving", "naive"):
        tag = "bench" if service == "naive" else settings.version
        docker.remove_image(c, f"labs-bench/{service}:{tag}", f"labs-bench/{service}:latest")
    shutil.rmtree(tree, ignore_errors=True)
    return times
