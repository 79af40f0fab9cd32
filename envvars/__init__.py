"""The environment variables a container reads, in one shape for all three readers:
the serving app (app/settings.py), gunicorn's configuration (app/gunicorn_conf.py) and
training (training/settings.py). Each lists its variables in one table, which
`.env.example` documents (labctl/env_example.py).

Standard library only, and nothing runs at import: gunicorn's master reads its
configuration through this module before any of the app is loaded. Both images copy
this folder (docker/serving.Dockerfile, docker/training.Dockerfile), so serving and
training share it without importing each other.

The host's tasks keep a table of their own (labctl.settings.Setting): they run from the
host venv and read invoke's configuration and `.env` as well, and their Setting names
an invoke key; this folder is what the images hold. One class for both would tie the
images' code to the host's tooling for the sake of three attributes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Variable:
    """An environment variable a container reads: its name, default (as text) and
    meaning. Unset or empty, it is its default (as Compose's `${NAME:-default}`)."""

    name: str
    default: str
    meaning: str


def read(variable: Variable, environ: Mapping[str, str] | None = None) -> str:
    """The variable's text in environ (by default the process's environment), else its
    default."""
    env = os.environ if environ is None else environ
    return env.get(variable.name) or variable.default


def reads(name: str, default: str, meaning: str, parse: Callable[[str], Any]) -> dict:
    """A dataclass field's metadata: read_fields reads it from the variable `name`,
    turned into its type by parse (`field(metadata=reads(...))`)."""
    return {"variable": Variable(name, default, meaning), "parse": parse}


def read_fields(cls: type, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """field name -> value of every field of the dataclass cls that names a variable."""
    return {
        item.name: item.metadata["parse"](read(item.metadata["variable"], environ))
        for item in dataclasses.fields(cls)
        if "variable" in item.metadata
    }


def variables(cls: type) -> tuple[Variable, ...]:
    """The variables the fields of the dataclass cls read, in field order."""
    return tuple(
        item.metadata["variable"] for item in dataclasses.fields(cls) if "variable" in item.metadata
    )
