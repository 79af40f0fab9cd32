"""Training settings: defaults, overridden by the environment, then by the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from model_registry.signing import key_paths

MODEL_TYPES = ("logreg", "knn")


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
        if not 0.05 <= self.test_size <= 0.5:
            raise ValueError(f"TRAINING_TEST_SIZE={self.test_size}: must be 0.05 to 0.5")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"TRAINING_SEED={self.seed}: must be 0 to 2**32 - 1")
        return self
