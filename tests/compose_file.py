"""compose.yaml as the tests read it: its services straight from the file (pytest
parametrizes before any fixture runs), and as Compose resolves it (`docker compose
config`: the CLI alone, no engine), for the tests that compare it with the manifests,
the Dockerfiles and the tasks. tests/test_structure.py proves the file's list is the one
Compose itself gives (`docker compose config --services`).

Compose reads a `.env` beside the Compose file by itself: a developer's own (MODEL_TYPE,
PYTHON_IMAGE, COMPOSE_PROFILES=observe, ...) would change what these tests see. So every
Compose run here reads an empty file instead (COMPOSE_ENV_FILES, Compose's variable for
`--env-file`): the tests see compose.yaml as shipped, with the tasks' default settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml
from invoke import Context

from labctl import docker
from labctl.settings import ROOT, Settings

COMPOSE_FILE = ROOT / docker.COMPOSE_FILE
# What Compose reads instead of a `.env`: nothing.
NO_DOTENV = Path(os.devnull)


def service_names() -> list[str]:
    """The default stack's services: those of no profile (Compose's own list leaves a
    profile's services out until it is given, e.g. `--profile observe`)."""
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return [name for name, spec in services.items() if not spec.get("profiles")]


def config(
    file: Path = COMPOSE_FILE, *, profiles: Iterable[str] = (), env_file: Path = NO_DOTENV
) -> dict:
    """The Compose file as Compose resolves it (`config --format json`), with the tasks'
    default settings and env_file in place of a `.env` (by default: none)."""
    result = docker.compose(
        Context(),
        Settings.from_env({}),
        ["config", "--format", "json"],
        files=(str(file),),
        profiles=profiles,
        env={"COMPOSE_ENV_FILES": str(env_file)},
        hide=True,
        echo=False,
        in_stream=False,
    )
    return json.loads(result.stdout)


def services(profiles: Iterable[str] = ()) -> list[str]:
    """The tasks' own service list (docker.services: `config --services`), Compose
    reading no `.env` either."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COMPOSE_ENV_FILES", str(NO_DOTENV))
        return docker.services(Context(), Settings.from_env({}), profiles=profiles)
