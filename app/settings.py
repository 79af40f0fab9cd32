"""Serving settings: read once from the environment into one object.

Each field names its environment variable, default and meaning in one place (its
metadata); from_env reads them from there, and `.env.example` lists them
(labctl/env_example.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from model_registry.signing import DEFAULT_TRUSTED_KEYS, TRUSTED_KEYS_VARIABLE, key_paths


@dataclass(frozen=True)
class Variable:
    """An environment variable the server reads: its name, default (as text) and meaning."""

    name: str
    default: str
    meaning: str


def _from_env(
    name: str, default: str, meaning: str, parse: Callable[[str], Any]
) -> dict[str, object]:
    """A field's metadata: read it from the variable `name` (default when unset), turned
    into its type by parse."""
    return {"variable": Variable(name, default, meaning), "parse": parse}


def _flag(text: str) -> bool:
    return text not in ("0", "false", "no")


def _trusted_keys(text: str) -> Path:
    # The registry's own rule (an empty value means the default).
    return key_paths({TRUSTED_KEYS_VARIABLE: text})[1]


@dataclass(frozen=True)
class ServingSettings:
    """Everything the serving app reads from its environment."""

    registry: Path = field(
        metadata=_from_env(
            "MODEL_REGISTRY",
            "/registry",
            "the registry the training service publishes into (read-only here)",
            Path,
        )
    )
    model_name: str = field(
        metadata=_from_env(
            "MODEL_NAME", "iris-classifier", "which model of the registry to serve", str
        )
    )
    max_batch: int = field(
        metadata=_from_env(
            "MAX_BATCH_SIZE", "1000", "most instances one /predict request may carry", int
        )
    )
    max_body_bytes: int = field(
        metadata=_from_env(
            "MAX_BODY_BYTES",
            str(256 * 1024),
            "largest request body accepted, in bytes (a 1,000-row batch is ~60 KB)",
            int,
        )
    )
    reload_interval_s: float = field(
        metadata=_from_env(
            "MODEL_RELOAD_INTERVAL",
            "2",
            "seconds between each worker's looks at LATEST for a newly published version",
            float,
        )
    )
    log_requests: bool = field(
        metadata=_from_env(
            "LOG_REQUESTS",
            "1",
            "one JSON log line per request (0, false or no: off, for benchmarks of the bare path)",
            _flag,
        )
    )
    trusted_keys: Path = field(
        metadata=_from_env(
            TRUSTED_KEYS_VARIABLE,
            DEFAULT_TRUSTED_KEYS,
            "folder of the public keys a version must be signed with",
            _trusted_keys,
        )
    )
    docs_assets: Path = field(
        metadata=_from_env(
            "DOCS_ASSETS",
            "/opt/docs-assets",
            "folder of Swagger UI's swagger-ui-bundle.js and swagger-ui.css for /docs "
            "(the serving image copies them there)",
            Path,
        )
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServingSettings:
        """Read every field's variable (VARIABLES), its default where it is unset."""
        env = os.environ if environ is None else environ
        values = {}
        for item in fields(cls):
            variable = item.metadata["variable"]
            values[item.name] = item.metadata["parse"](env.get(variable.name, variable.default))
        return cls(**values)


# The variables the server reads, in field order.
VARIABLES = tuple(item.metadata["variable"] for item in fields(ServingSettings))
