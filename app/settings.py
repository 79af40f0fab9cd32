"""Serving settings: read once from the environment into one object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from model_registry.signing import key_paths


@dataclass(frozen=True)
class ServingSettings:
    """Everything the serving app reads from its environment."""

    registry: Path
    model_name: str
    max_batch: int
    max_body_bytes: int
    reload_interval_s: float
    log_requests: bool
    trusted_keys: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServingSettings:
        """Read MODEL_REGISTRY, MODEL_NAME, MAX_BATCH_SIZE, ... (defaults in the code below)."""
        env = os.environ if environ is None else environ
        return cls(
            # The registry the training service publishes into (read-only here).
            registry=Path(env.get("MODEL_REGISTRY", "/registry")),
            # Which model of the registry to serve.
            model_name=env.get("MODEL_NAME", "iris-classifier"),
            # Most instances one /predict request may carry.
            max_batch=int(env.get("MAX_BATCH_SIZE", "1000")),
            # Largest request body accepted (bytes); a 1,000-row batch is ~60 KB.
            max_body_bytes=int(env.get("MAX_BODY_BYTES", str(256 * 1024))),
            # How often each worker looks at LATEST for a newly published version.
            reload_interval_s=float(env.get("MODEL_RELOAD_INTERVAL", "2")),
            # One JSON log line per request (off only for benchmarks of the bare path).
            log_requests=env.get("LOG_REQUESTS", "1") not in ("0", "false", "no"),
            # The public keys a version must be signed with (MODEL_TRUSTED_KEYS).
            trusted_keys=key_paths(env)[1],
        )
