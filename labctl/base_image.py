"""The Python base image: the official one when it can be had, else one built here."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
from pathlib import Path

from invoke import Context, Exit

from labctl.docker import first_line, image_exists
from labctl.settings import Settings

# Debian packages of the local base: Python 3.11 with venv, and CA roots for pip.
PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")

# What a container base never needs: docs, man pages, apt's lists and caches, locales.
TRIM = (
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/lintian/*",
    "var/lib/apt/lists/*",
    "var/cache/apt/*",
    "var/cache/debconf/*-old",
    "var/log/*",
)

PULL_TIMEOUT_S = 120


def try_pull(c: Context, image: str) -> str | None:
    """Pull image; None on success, else the reason in one line."""
    result = c.run(
        f"docker pull --quiet {shlex.quote(image)}", hide=True, warn=True, timeout=PULL_TIMEOUT_S
    )
    return None if result.ok else first_line(result.stderr) or "docker pull failed"


def build_local(c: Context, settings: Settings, *, force: bool = False) -> str:
    """debootstrap a minimal Debian with Python 3.11 and import it as the local base."""
    tag = settings.local_python_image
    if image_exists(c, tag) and not force:
        print(f"base image {tag} already exists (use --force to rebuild it)")
        return tag
    if shutil.which("debootstrap") is None:
        raise Exit(
            "debootstrap is not installed: "
            "'sudo apt-get install debootstrap', then 'inv base-image'",
            code=1,
        )
    if os.geteuid() != 0:
        raise Exit("building the local base needs root: run 'sudo inv base-image'", code=1)
    with tempfile.TemporaryDirectory(prefix="labs-base-") as workdir:
        rootfs = Path(workdir) / "rootfs"
        c.run(
            "debootstrap --variant=minbase "
            f"--include={','.join(PACKAGES)} {settings.debian_suite} "
            f"{shlex.quote(str(rootfs))} {shlex.quote(settings.debian_mirror)}",
            echo=True,
            hide="stdout",
        )
        for pattern in TRIM:
            c.run(f"rm -rf {rootfs}/{pattern}", hide=True)
        # Keep only the locale alias file: the image speaks C.UTF-8.
        c.run(
            f"find {rootfs}/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias "
            "-exec rm -rf {} +",
            hide=True,
        )
        changes = " ".join(
            f"--change {shlex.quote(change)}"
            for change in (
                "ENV LANG=C.UTF-8",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                'CMD ["python3"]',
                "LABEL org.opencontainers.image.description="
                + json.dumps(
                    f"Debian {settings.debian_suite} minbase with Python 3 "
                    f"(local stand-in for {settings.official_python_image})"
                ),
            )
        )
        tarball = f"tar -C {shlex.quote(str(rootfs))} -c ."
        c.run(
            f"{tarball} | docker import {changes} - {shlex.quote(tag)}",
            echo=True,
            hide="stdout",
        )
    print(f"built local base image {tag}")
    return tag


def resolve(c: Context, settings: Settings, *, pull: bool = False, build: bool = True) -> str:
    """The base image to build on; says so in one line when it falls back."""
    if settings.python_image:
        return settings.python_image
    official = settings.official_python_image
    if image_exists(c, official) and not pull:
        return official
    reason = try_pull(c, official)
    if reason is None:
        return official
    local = settings.local_python_image
    if image_exists(c, local):
        print(f"!! {official} cannot be pulled ({reason}); building on local base {local}")
        return local
    if not build:
        raise Exit(
            f"{official} cannot be pulled ({reason}) and no local base exists: "
            "run 'inv base-image' or set PYTHON_IMAGE",
            code=1,
        )
    print(f"!! {official} cannot be pulled ({reason}); building local base {local} first")
    return build_local(c, settings)
