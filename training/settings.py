"""Training settings: defaults, overridden by the environment, then by the command line.

Each field read from the environment names its variable, default and meaning in one
place (its metadata, envvars.reads); from_env reads them from there, and `.env.example`
lists them (labctl/env_example.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envvars import read_fields, reads, variables
from model_registry.signing import (
    DEFAULT_SIGNING_KEY,
    DEFAULT_TRUSTED_KEYS,
    SIGNING_KEY_VARIABLE,
    TRUSTED_KEYS_VARIABLE,
)
from training.model import MODEL_TYPES


@dataclass(frozen=True)
class Range:
    """An inclusive range of allowed values: the one check the environment and the
    command line both apply."""

    low: float
    high: float

    def check(self, value: float) -> float:
        """Return value, or raise ValueError saying the range."""
        if not self.low <= value <= self.high:
            raise ValueError(f"must be between {self.low} and {self.high}, got {value}")
        return value


# Share of the data held out for the report: enough to train on, enough to judge.
TEST_SIZE = Range(0.05, 0.5)
# numpy's seeds are unsigned 32-bit integers.
SEED = Range(0, 2**32 - 1)


@dataclass(frozen=True)
class TrainingSettings:
    """Everything a training run needs to know."""

    registry: Path = field(
        metadata=reads(
            "MODEL_REGISTRY",
            "registry",
            "where versions are published: a volume in Lab 2, a host folder in Lab 1",
            Path,
        )
    )
    model_name: str = field(
        metadata=reads(
            "MODEL_NAME",
            "iris-classifier",
            "the registry sub-directory the model lives in; serving reads the same name",
            str,
        )
    )
    model_type: str = field(
        metadata=reads(
            "MODEL_TYPE",
            "logreg",
            "logreg (StandardScaler + LogisticRegression) or knn (+ KNeighbors)",
            str,
        )
    )
    seed: int = field(
        metadata=reads(
            "TRAINING_SEED",
            "42",
            f"one seed drives the split and the estimator: same seed, same metrics "
            f"({SEED.low:.0f} to {SEED.high:.0f})",
            int,
        )
    )
    test_size: float = field(
        metadata=reads(
            "TRAINING_TEST_SIZE",
            "0.25",
            f"share of the data held out for the report ({TEST_SIZE.low} to {TEST_SIZE.high})",
            float,
        )
    )
    # Not from the environment: --no-publish turns it off.
    publish: bool
    # The keys, under the registry's own variables and defaults (model_registry/signing.py):
    # training signs, every reader trusts the folder.
    signing_key: Path = field(
        metadata=reads(
            SIGNING_KEY_VARIABLE,
            DEFAULT_SIGNING_KEY,
            "the private key versions are signed with (made on first use)",
            Path,
        )
    )
    trusted_keys: Path = field(
        metadata=reads(
            TRUSTED_KEYS_VARIABLE,
            DEFAULT_TRUSTED_KEYS,
            "the folder the signing key's public half is trusted in",
            Path,
        )
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TrainingSettings:
        """Read the defaults from the environment (VARIABLES), checked."""
        values: dict[str, Any] = {"publish": True, **read_fields(cls, environ)}
        return cls(**values).checked()

    def checked(self) -> TrainingSettings:
        """Return self, or raise ValueError naming the first setting out of range."""
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"MODEL_TYPE={self.model_type!r}: choose {' or '.join(MODEL_TYPES)}")
        for variable, value, allowed in (
            ("TRAINING_TEST_SIZE", self.test_size, TEST_SIZE),
            ("TRAINING_SEED", self.seed, SEED),
        ):
            try:
                allowed.check(value)
            except ValueError as exc:
                raise ValueError(f"{variable}: {exc}") from None
        return self


# The variables training reads, in field order.
VARIABLES = variables(TrainingSettings)
