"""Settings of the task runner: defaults, then invoke's configuration, then the environment.

Nothing here runs at import: each task builds its Settings from its Context.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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


# The defaults of every setting, in one place. The tasks hand them to invoke
# (`ns.configure({"labs": DEFAULTS})`), so `invoke.yaml` (labs: {lab2_port: 8080}) and
# INVOKE_LABS_* variables override them; the environment variables documented in
# compose.yaml and README (LAB2_PORT, PYTHON_IMAGE, ...) override both.
DEFAULTS: dict[str, object] = {
    "version": "",  # "": the version of pyproject.toml
    "revision": "",  # "": the git commit of the tree
    "image_prefix": "mlops-docker-labs",
    "python_image": "",  # "": python:3.11-slim if it can be had, else the local base
    "local_python_image": "mlops-docker-labs/python:3.11-bookworm",
    "debian_suite": "bookworm",
    "debian_mirror": "http://deb.debian.org/debian",
    "compose_project": "mlops-lab2",
    "lab1_project": "mlops-lab1",
    "lab2_port": 80,
    "lab2_host": "127.0.0.1",
    "build_cache_keep": "8GB",
}

# The environment variable that overrides each setting (documented in compose.yaml).
ENVIRONMENT = {
    "version": "LABS_VERSION",
    "revision": "LABS_REVISION",
    "image_prefix": "LABS_IMAGE_PREFIX",
    "python_image": "PYTHON_IMAGE",
    "local_python_image": "LABS_LOCAL_PYTHON_IMAGE",
    "debian_suite": "LABS_DEBIAN_SUITE",
    "debian_mirror": "LABS_DEBIAN_MIRROR",
    "compose_project": "LAB2_PROJECT",
    "lab1_project": "LAB1_PROJECT",
    "lab2_port": "LAB2_PORT",
    "lab2_host": "LAB2_HOST",
    "build_cache_keep": "LABS_BUILD_CACHE_KEEP",
}


def venv_tool(name: str) -> str:
    """A tool installed with the project (hadolint, ruff, uv), found next to this
    interpreter even when the venv is not activated; else the name, for PATH."""
    path = Path(sys.executable).parent / name
    return str(path) if path.is_file() else name


@dataclass(frozen=True)
class Settings:
    """What the tasks need to know (see DEFAULTS and ENVIRONMENT for where each comes from)."""

    root: Path
    # Tag of every image, also its OCI version label.
    version: str
    # OCI revision label: the git commit the images are built from.
    revision: str
    # Repository part of the image names: <prefix>/training, <prefix>/serving.
    image_prefix: str
    # Base image forced by the user; None means: official, else the local one.
    python_image: str | None
    # The base every Dockerfile defaults to on a normal machine.
    official_python_image: str
    # The equivalent `inv base-image` builds from Debian packages when the official one
    # cannot be pulled.
    local_python_image: str
    debian_suite: str
    debian_mirror: str
    # CA bundle handed to the installers as a BuildKit secret (TLS-intercepting proxies).
    ca_bundle: Path | None
    # Fixed Compose project names: lab2, down and logs address the same stack.
    compose_project: str
    lab1_project: str
    # Host port and address of the Lab 2 web page and API (this machine only, by default).
    lab2_port: int
    lab2_host: str
    # Named volume that is the model registry in Lab 2.
    registry_volume: str
    # BuildKit cache `inv clean` leaves in place (most recently used first).
    build_cache_keep: str
    # What the tasks keep between runs (the local base's Debian packages).
    cache_dir: Path

    @classmethod
    def from_config(
        cls, config: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """The settings: DEFAULTS, then invoke's configuration, then the environment."""
        env = os.environ if environ is None else environ
        values = {**DEFAULTS, **dict(config or {})}
        for key, variable in ENVIRONMENT.items():
            if env.get(variable):
                values[key] = env[variable]
        return cls(
            root=ROOT,
            version=str(values["version"]) or _project_version(),
            revision=str(values["revision"]) or _git_revision(),
            image_prefix=str(values["image_prefix"]),
            python_image=str(values["python_image"]) or None,
            official_python_image="python:3.11-slim",
            local_python_image=str(values["local_python_image"]),
            debian_suite=str(values["debian_suite"]),
            debian_mirror=str(values["debian_mirror"]),
            ca_bundle=_first_existing_file(env, CA_BUNDLE_VARIABLES),
            compose_project=str(values["compose_project"]),
            lab1_project=str(values["lab1_project"]),
            lab2_port=int(values["lab2_port"]),
            lab2_host=str(values["lab2_host"]),
            registry_volume="model-registry",
            build_cache_keep=str(values["build_cache_keep"]),
            cache_dir=Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            / "mlops-docker-labs",
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from DEFAULTS and the environment alone (no invoke configuration)."""
        return cls.from_config(None, environ)

    def image(self, service: str, tag: str | None = None) -> str:
        """Full image name of one of the project's images."""
        return f"{self.image_prefix}/{service}:{tag or self.version}"
