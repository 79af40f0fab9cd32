"""Serving settings: read once from the environment into one object.

Each field names its environment variable, default and meaning in one place
(its metadata, envvars.reads); from_env reads them from there, and `.env.example` lists them
(labctl/env_example.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from envvars import read_fields, reads, variables
from model_registry.signing import DEFAULT_TRUSTED_KEYS, TRUSTED_KEYS_VARIABLE


def _flag(text: str) -> bool:
    return text not in ("0", "false", "no")


@dataclass(frozen=True)
class ServingSettings:
    """Everything the serving app reads from its environment."""

    registry: Path = field(
        metadata=reads(
            "MODEL_REGISTRY",
            "/registry",
            "the registry the training service publishes into (read-only here)",
            Path,
        )
    )
    model_name: str = field(
        metadata=reads("MODEL_NAME", "iris-classifier", "which model of the registry to serve", str)
    )
    max_batch: int = field(
        metadata=reads(
            "MAX_BATCH_SIZE", "1000", "most instances one /predict request may carry", int
        )
    )
    max_body_bytes: int = field(
        metadata=reads(
            "MAX_BODY_BYTES",
            str(256 * 1024),
            "largest request body accepted, in bytes (a 1,000-row batch is ~60 KB)",
            int,
        )
    )
    reload_interval_s: float = field(
        metadata=reads(
            "MODEL_RELOAD_INTERVAL",
            "2",
            "seconds between each worker's looks at LATEST for a newly published version",
            float,
        )
    )
    log_requests: bool = field(
        metadata=reads(
            "LOG_REQUESTS",
            "1",
            "one JSON log line per request (0, false or no: off, for benchmarks of the bare path)",
            _flag,
        )
    )
    # The registry's own variable and default (model_registry/signing.py).
    trusted_keys: Path = field(
        metadata=reads(
            TRUSTED_KEYS_VARIABLE,
            DEFAULT_TRUSTED_KEYS,
            "folder of the public keys a version must be signed with",
            Path,
        )
    )
    docs_assets: Path = field(
        metadata=reads(
            "DOCS_ASSETS",
            "/opt/docs-assets",
            "folder of Swagger UI's swagger-ui-bundle.js and swagger-ui.css for /docs "
            "(the serving image copies them there)",
            Path,
        )
    )
    server_version: str = field(
        metadata=reads(
            "LABS_VERSION",
            "dev",
            "the server's version in V2's server metadata (GET /v2): the serving image sets "
            "it to its own version, its VERSION build argument (dev: not run from an image)",
            str,
        )
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServingSettings:
        """Read every field's variable (VARIABLES), its default where it is unset or empty."""
        return cls(**read_fields(cls, environ))


# The variables the server reads, in field order.
VARIABLES = variables(ServingSettings)
