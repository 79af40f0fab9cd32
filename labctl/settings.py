"""Settings of the task runner: read once from the environment, passed to every task."""

from __future__ import annotations

import os
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Every image the project builds: compose service name -> Dockerfile.
IMAGES = {
    "training": "docker/training.Dockerfile",
    "serving": "docker/serving.Dockerfile",
    "proxy": "docker/proxy.Dockerfile",
}

# Label every image built by the project's Compose files carries, so that `inv clean`
# removes this project's leftovers (dangling images) and nothing else.
BUILD_LABEL = ("org.mlops-docker-labs.project", "mlops-docker-labs")

# Environment variables that may name a CA bundle for pip, most specific first.
CA_BUNDLE_VARIABLES = ("LABS_CA_BUNDLE", "PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def _project_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["version"]


def _git_revision() -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def _first_existing_file(env: Mapping[str, str], names: tuple[str, ...]) -> Path | None:
    for name in names:
        value = env.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None


@dataclass(frozen=True)
class Settings:
    """What the tasks need to know, with the environment variable that sets each."""

    root: Path
    version: str
    revision: str
    image_prefix: str
    python_image: str | None
    official_python_image: str
    local_python_image: str
    debian_suite: str
    debian_mirror: str
    ca_bundle: Path | None
    compose_project: str
    lab2_port: int
    lab2_host: str
    registry_volume: str
    build_cache_keep: str
    cache_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build the settings from os.environ (or the mapping given, for tests)."""
        env = os.environ if environ is None else environ
        return cls(
            root=ROOT,
            # Tag of every image, also its OCI version label.
            version=env.get("LABS_VERSION", _project_version()),
            # OCI revision label: the git commit the images are built from.
            revision=env.get("LABS_REVISION") or _git_revision(),
            # Repository part of the image names: <prefix>/training, <prefix>/serving.
            image_prefix=env.get("LABS_IMAGE_PREFIX", "mlops-docker-labs"),
            # Base image forced by the user; None means: official, else the local one.
            python_image=env.get("PYTHON_IMAGE") or None,
            # The base every Dockerfile defaults to on a normal machine.
            official_python_image="python:3.11-slim",
            # The equivalent `inv base-image` builds from Debian packages when the
            # official one cannot be pulled.
            local_python_image=env.get(
                "LABS_LOCAL_PYTHON_IMAGE", "mlops-docker-labs/python:3.11-bookworm"
            ),
            debian_suite=env.get("LABS_DEBIAN_SUITE", "bookworm"),
            debian_mirror=env.get("LABS_DEBIAN_MIRROR", "http://deb.debian.org/debian"),
            # CA bundle handed to pip as a BuildKit secret (TLS-intercepting proxies).
            ca_bundle=_first_existing_file(env, CA_BUNDLE_VARIABLES),
            # Fixed Compose project name: lab2, down and logs address the same stack.
            compose_project=env.get("LAB2_PROJECT", "mlops-lab2"),
            # Host port of the Lab 2 web page and API.
            lab2_port=int(env.get("LAB2_PORT", "80")),
            # Host address the port is published on: this machine only, by default.
            lab2_host=env.get("LAB2_HOST", "127.0.0.1"),
            # Named volume that is the model registry in Lab 2.
            registry_volume="model-registry",
            # BuildKit cache `inv clean` leaves in place (most recently used first).
            build_cache_keep=env.get("LABS_BUILD_CACHE_KEEP", "8GB"),
            # What the tasks keep between runs (the local base's Debian packages).
            cache_dir=Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            / "mlops-docker-labs",
        )

    def image(self, service: str, tag: str | None = None) -> str:
        """Full image name of one of the project's images."""
        return f"{self.image_prefix}/{service}:{tag or self.version}"
