"""Settings of the task runner: defaults, then invoke's configuration, then the environment.

Nothing here runs at import: each task builds its Settings from its Context.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv.parser import parse_stream
from invoke import Exit

ROOT = Path(__file__).resolve().parent.parent

# Label every image built by the project's Compose files carries, so that `inv clean`
# removes this project's leftovers (dangling images) and nothing else.
BUILD_LABEL = ("org.mlops-docker-labs.project", "mlops-docker-labs")


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
class Setting:
    """One setting of the tasks: its key in invoke's configuration (`labs.KEY`; None: the
    environment only), the environment variable, its default and what it means.

    The default is text, as the environment's values are: invoke casts an INVOKE_LABS_*
    value to its default's type, and an int default would make `INVOKE_LABS_LAB2_PORT=x`
    a traceback inside invoke, before any task could say what is wrong. Settings turns
    the text into its type, with a one-line Exit for a bad value."""

    key: str | None
    env: str
    default: str
    meaning: str


# Every setting, in one place: default and meaning side by side. The tasks hand the
# defaults to invoke (`ns.configure({"labs": DEFAULTS})`), so `invoke.yaml` (labs:
# {lab2_port: 8080}) and INVOKE_LABS_* variables override them; the environment variables
# override both (the shell's, then those of a `.env` file at the root, as Compose reads
# them). `.env.example` lists them all (`inv env-example` writes it from these tables).
SETTINGS = (
    Setting(
        "version",
        "LABS_VERSION",
        "",
        "image tag and OCI version label (empty: the version in pyproject.toml)",
    ),
    Setting(
        "revision",
        "LABS_REVISION",
        "",
        "OCI revision label of the images (empty: the git commit of the tree)",
    ),
    Setting(
        "image_prefix",
        "LABS_IMAGE_PREFIX",
        "mlops-docker-labs",
        "repository part of the image names: PREFIX/training, PREFIX/serving, PREFIX/proxy",
    ),
    Setting(
        "python_image",
        "PYTHON_IMAGE",
        "",
        "base of every image (empty: python:3.11-slim when it can be pulled, else the local base)",
    ),
    Setting(
        "local_python_image",
        "LABS_LOCAL_PYTHON_IMAGE",
        "mlops-docker-labs/python:3.11-bookworm",
        "tag of the local base `inv base-image` builds where python:3.11-slim cannot be pulled",
    ),
    Setting("debian_suite", "LABS_DEBIAN_SUITE", "bookworm", "Debian release of the local base"),
    Setting(
        "debian_mirror",
        "LABS_DEBIAN_MIRROR",
        "http://deb.debian.org/debian",
        "Debian mirror the local base is built from",
    ),
    Setting(
        "compose_project",
        "LAB2_PROJECT",
        "mlops-lab2",
        "Compose project of Lab 2: the tasks hand it to Compose as COMPOSE_PROJECT_NAME",
    ),
    Setting("lab1_project", "LAB1_PROJECT", "mlops-lab1", "Compose project of Lab 1's runs"),
    Setting("lab2_port", "LAB2_PORT", "80", "host port of the Lab 2 web page and API"),
    Setting(
        "lab2_host",
        "LAB2_HOST",
        "127.0.0.1",
        "host address the port is published on (127.0.0.1: this machine only)",
    ),
    Setting(
        "prometheus_port",
        "PROMETHEUS_PORT",
        "9090",
        "host port of Prometheus in the observe profile (`inv lab2 --observe`), published "
        "on 127.0.0.1 only",
    ),
    Setting(
        "build_cache_keep",
        "LABS_BUILD_CACHE_KEEP",
        "8GB",
        "BuildKit cache `inv clean` leaves in place (most recently used first)",
    ),
)

# The environment variables that may name a CA bundle for the installers (a
# TLS-intercepting proxy's), most specific first: the first that names a file wins.
CA_BUNDLE = (
    Setting(
        None,
        "LABS_CA_BUNDLE",
        "",
        "CA bundle the installers trust, handed to the builds as a secret (never in a layer)",
    ),
    Setting(None, "PIP_CERT", "", "CA bundle, if LABS_CA_BUNDLE names no file"),
    Setting(None, "SSL_CERT_FILE", "", "CA bundle, if neither of the above names a file"),
    Setting(None, "REQUESTS_CA_BUNDLE", "", "CA bundle, if none of the above names a file"),
)
CA_BUNDLE_VARIABLES = tuple(setting.env for setting in CA_BUNDLE)

CACHE_HOME = Setting(
    None,
    "XDG_CACHE_HOME",
    "",
    "where the tasks keep the local base's Debian packages, under mlops-docker-labs/ "
    "(empty: ~/.cache)",
)

# Derived views, for invoke and for the tasks: key -> default, key -> variable.
DEFAULTS: dict[str, str] = {s.key: s.default for s in SETTINGS if s.key}
ENVIRONMENT: dict[str, str] = {s.key: s.env for s in SETTINGS if s.key}

# A `.env` file at the root: Compose reads it for compose.yaml, the tasks for their settings.
DOTENV = ROOT / ".env"


def read_dotenv(path: Path) -> dict[str, str]:
    """The NAME=value pairs of a Compose-style `.env` file; {} when there is none.

    Read by python-dotenv's parser, the one behind its dotenv_values, as Compose reads
    the file: `#` comments, also after a value (after a closing quote, or a space),
    `export `, single quotes taken literally, escapes in double quotes. A line that is no
    assignment is an Exit naming it, as Compose refuses it (python-dotenv would only log
    it). Values are taken as written: no `${...}` expansion (Compose expands them, the
    tasks do not). A name without `=` sets nothing.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.string.strip()
            raise Exit(
                f"{path} line {binding.original.line}: {line!r} is not NAME=value "
                "(Compose refuses it too)",
                code=2,
            )
        if binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values


def environment(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = None
) -> dict[str, str]:
    """The variables the settings read: a `.env` file's, overridden by the environment's."""
    shell = os.environ if environ is None else environ
    return {**read_dotenv(DOTENV if dotenv is None else dotenv), **shell}


def venv_tool(name: str) -> str:
    """A tool installed with the project (hadolint, ruff, uv), found next to this
    interpreter even when the venv is not activated; else the name, for PATH."""
    path = Path(sys.executable).parent / name
    return str(path) if path.is_file() else name


def _port(values: Mapping[str, object], env: Mapping[str, str], key: str) -> int:
    """values[key] as a TCP port, or Exit with one line naming where it was set."""
    value = values[key]
    text = str(value).strip()
    if text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    variable = ENVIRONMENT[key]
    where = variable if env.get(variable) else f"labs.{key}"
    fix = "the shell or .env" if env.get(variable) else "invoke.yaml or INVOKE_LABS_*"
    raise Exit(f"{where}={value!r} is not a port number (1 to 65535): fix it in {fix}", code=2)


@dataclass(frozen=True)
class Settings:
    """What the tasks need to know (SETTINGS says where each comes from and what it means)."""

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
    # Host port of Prometheus (the observe profile), on 127.0.0.1 only.
    prometheus_port: int
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
        """The settings: DEFAULTS, then invoke's configuration, then the environment
        (environ if given, else the process's over the root's `.env` file)."""
        env = environment() if environ is None else environ
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
            lab2_port=_port(values, env, "lab2_port"),
            lab2_host=str(values["lab2_host"]),
            prometheus_port=_port(values, env, "prometheus_port"),
            registry_volume="model-registry",
            build_cache_keep=str(values["build_cache_keep"]),
            cache_dir=Path(env.get(CACHE_HOME.env) or Path.home() / ".cache") / "mlops-docker-labs",
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from DEFAULTS and the environment alone (no invoke configuration)."""
        return cls.from_config(None, environ)

    def image(self, service: str, tag: str | None = None) -> str:
        """Full image name of one of the project's images."""
        return f"{self.image_prefix}/{service}:{tag or self.version}"
