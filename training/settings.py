"""Training settings: defaults, overridden by the environment, then by the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from model_registry.signing import key_paths
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

    registry: Path
    model_name: str
    model_type: str
    seed: int
    test_size: float
    publish: bool
    signing_key: Path
    trusted_keys: Path

    @classmethod
    def from_env(cls, environ: os._Environ | dict | None = None) -> TrainingSettings:
        """Read the defaults from the environment (MODEL_REGISTRY, MODEL_NAME, ...)."""
        env = os.environ if environ is None else environ
        return cls(
            # Where versions are published: a volume in Lab 2, a host folder in Lab 1.
            registry=Path(env.get("MODEL_REGISTRY", "registry")),
            # The registry sub-directory the model lives in; serving reads the same name.
            model_name=env.get("MODEL_NAME", "iris-classifier"),
            # logreg (StandardScaler + LogisticRegression) or knn (+ KNeighbors).
            model_type=env.get("MODEL_TYPE", "logreg"),
            # One seed drives the split and the estimator: same seed, same metrics.
            seed=int(env.get("TRAINING_SEED", "42")),
            # Share of the data held out for the report.
            test_size=float(env.get("TRAINING_TEST_SIZE", "0.25")),
            publish=True,
            # The private key versions are signed with (made on first use), and the
            # folder its public half is trusted in (see model_registry/signing.py).
            signing_key=key_paths(env)[0],
            trusted_keys=key_paths(env)[1],
        ).checked()

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
