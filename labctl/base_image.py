"""The Python base image: the official one when it can be had, else one built here."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from invoke import Context, Exit

from labctl import docker, provision
from labctl.settings import Settings

# Debian packages of the local base, and nothing else: Python 3.11 (`python` too, as in
# the official image) and venv with ensurepip, which the builder stages use to install
# uv. Not pip itself (24 MB in every image; measured, it would save ~1 s of a cold
# build), nor CA roots: pip brings its own, uv has its own, and nothing else uses TLS.
PACKAGES = ("python3", "python3-venv", "python-is-python3")

# What a container base never reads, so dpkg never unpacks it: docs (the licences stay),
# man and info pages, translations. Excluding them at unpack time, instead of deleting
# them afterwards, also makes the build faster.
DPKG_OPTIONS = (
    "force-unsafe-io",  # no fsync per file: the tree is thrown away if the build dies
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/lintian/*",
)

PULL_TIMEOUT_S = 120


def try_pull(c: Context, image: str) -> str | None:
    """Pull image; None on success, else the reason in one line."""
    result = docker.docker(c, "pull", "--quiet", image, warn=True, timeout=PULL_TIMEOUT_S)
    return None if result.ok else docker.first_line(result.stderr) or "docker pull failed"


def mmdebstrap_command(settings: Settings, debs: Path) -> list[str]:
    """mmdebstrap writing the base's root filesystem as a tarball to stdout.

    mmdebstrap (Debian's successor to debootstrap) resolves and downloads with apt and
    unpacks in one pass: ~17 s here against debootstrap's ~39 s. The .deb files are
    kept in `debs` between runs (its documented sync-in/sync-out hooks), so a rebuilt
    base downloads nothing it already had.
    """
    return [
        "mmdebstrap",
        "--quiet",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        # Merge /usr with mmdebstrap's own hook: the usrmerge package would pull in Perl
        # (46 MB) only to do that once.
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        *(f"--dpkgopt={option}" for option in DPKG_OPTIONS),
        "--skip=download/empty",
        "--skip=essential/unlink",
        '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
        f"--setup-hook=sync-in {debs} /var/cache/apt/archives/",
        f"--customize-hook=sync-out /var/cache/apt/archives {debs}",
        '--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb',
        settings.debian_suite,
        "-",
        settings.debian_mirror,
    ]


def build_local(c: Context, settings: Settings, *, force: bool = False) -> str:
    """Build a minimal Debian with Python 3.11 and import it as the local base image."""
    tag = settings.local_python_image
    if docker.image_exists(c, tag) and not force:
        print(f"base image {tag} already exists (use --force to rebuild it)")
        return tag
    if not provision.is_root():
        raise Exit("building the local base needs root: run 'sudo inv base-image'", code=1)
    provision.ensure(c, [provision.BASE_BUILDER])
    debs = settings.cache_dir / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    changes = [
        "ENV LANG=C.UTF-8",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["python3"]',
        "LABEL org.opencontainers.image.description="
        + json.dumps(
            f"Debian {settings.debian_suite} minbase with Python 3 "
            f"(local stand-in for {settings.official_python_image})"
        ),
    ]
    print(f"base: building {tag} from Debian {settings.debian_suite} packages (mmdebstrap)")
    started = time.monotonic()
    result = docker.import_rootfs(c, mmdebstrap_command(settings, debs), tag, changes)
    if not result.ok:
        # Its own words first (the last lines say what went wrong), then one line.
        print("\n".join(result.stderr.strip().splitlines()[-15:]))
        raise Exit(
            "building the local base failed (see mmdebstrap's last lines above); "
            "check the mirror (LABS_DEBIAN_MIRROR), or set PYTHON_IMAGE to an image you have",
            code=1,
        )
    print(f"base: built {tag} in {time.monotonic() - started:.0f} s")
    return tag


@dataclass(frozen=True)
class Choice:
    """Which base image the builds use, and how it was found (the one place that decides)."""

    image: str
    how: str  # "set" (PYTHON_IMAGE), "present", "pulled", "local" (the local base), "missing"
    reason: str = ""  # why the official image could not be pulled


def choose(c: Context, settings: Settings, *, pull: bool = False) -> Choice:
    """PYTHON_IMAGE if set; else the official image (present, or pulled); else the local
    base, present or "missing" (to be built). Builds nothing, prints nothing."""
    if settings.python_image:
        return Choice(settings.python_image, "set")
    official = settings.official_python_image
    if docker.image_exists(c, official) and not pull:
        return Choice(official, "present")
    reason = try_pull(c, official)
    if reason is None:
        return Choice(official, "pulled")
    local = settings.local_python_image
    return Choice(local, "local" if docker.image_exists(c, local) else "missing", reason)


def resolve(c: Context, settings: Settings, *, pull: bool = False, build: bool = True) -> str:
    """The base image to build on; says so in one line when it falls back."""
    choice = choose(c, settings, pull=pull)
    official = settings.official_python_image
    if choice.how == "local":
        local = choice.image
        print(f"!! {official} cannot be pulled ({choice.reason}); building on local base {local}")
    if choice.how != "missing":
        return choice.image
    if not build:
        raise Exit(
            f"{official} cannot be pulled ({choice.reason}) and no local base exists: "
            "run 'inv base-image' or set PYTHON_IMAGE",
            code=1,
        )
    print(
        f"!! {official} cannot be pulled ({choice.reason}); "
        f"building local base {choice.image} first"
    )
    return build_local(c, settings)
