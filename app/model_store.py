"""The model being served: loaded verified from the registry, hot-swapped when LATEST moves."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from flask import Flask, current_app

from app import metrics
from app.inference import Runner, onnx_runner
from app.settings import ServingSettings
from model_registry import (
    LoadedModel,
    RegistryError,
    load_trusted_keys,
    load_verified,
    read_latest,
)
from model_registry.tensors import describe, tensors_of

log = logging.getLogger("app.model")


@dataclass(frozen=True)
class ServedModel:
    """A signed, verified version plus what requests need from its metadata, ready to predict."""

    loaded: LoadedModel
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    runner: Runner

    @property
    def version(self) -> str:
        return self.loaded.version

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def runtime(self) -> str:
        return self.runner.name

    @classmethod
    def wrap(cls, loaded: LoadedModel) -> ServedModel:
        signature = loaded.metadata.get("signature", {})
        features = tuple(signature.get("inputs", ()))
        classes = tuple(signature.get("outputs", ()))
        if len(features) == 0 or len(classes) == 0:
            raise RegistryError(f"{loaded.name} {loaded.version}: metadata has no signature")
        runner = onnx_runner(loaded.onnx)
        # The graph must have the tensors the signed metadata promises clients.
        promised = tensors_of(signature)
        if runner.tensors != promised:
            raise RegistryError(
                f"{loaded.name} {loaded.version}: the graph has {describe(runner.tensors)}; "
                f"its signature says {describe(promised)}"
            )
        # Prove the graph works with its own signature before it may serve anything.
        probabilities = runner.predict_proba(np.zeros((1, len(features))))
        if probabilities.shape != (1, len(classes)) or not np.isfinite(probabilities).all():
            raise RegistryError(
                f"{loaded.name} {loaded.version}: model output {probabilities.shape} "
                f"does not match its signature ({len(classes)} classes)"
            )
        return cls(loaded, features, classes, runner)

    @property
    def tensors(self) -> dict:
        """Each input and output tensor's name, datatype and shape (signature.tensors)."""
        return tensors_of(self.loaded.metadata["signature"])

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        return self.runner.predict_proba(rows)


@dataclass
class ModelStore:
    """Holds the current model; a background thread swaps in newly published versions.

    Requests read `current` once and use that object to the end, so a swap (one
    reference assignment) never changes the model under a request in flight.
    """

    registry: Path
    name: str
    trusted_keys: Path
    reload_interval_s: float = 2.0
    current: ServedModel | None = None
    not_ready_reason: str = "model not loaded yet"
    _refused: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Load the version LATEST names if it is new; return whether the model changed."""
        with self._lock:
            try:
                wanted = read_latest(self.registry, self.name)
            except RegistryError as exc:
                return self._refuse(str(exc), key=f"latest:{exc}")
            if wanted is None:
                metrics.LATEST_REFUSED.set(0)
                if self.current is None:
                    self.not_ready_reason = (
                        f"no model published yet under {self.registry / self.name}"
                    )
                return False
            if self.current is not None and self.current.version == wanted:
                metrics.LATEST_REFUSED.set(0)
                return False
            # The trusted keys are read at every look: a rotated key is trusted as soon
            # as its public half is in the folder.
            try:
                trusted = load_trusted_keys(self.trusted_keys)
            except RegistryError as exc:
                return self._refuse(str(exc), key=f"trusted:{exc}")
            # A refused version is not examined again, unless its folder changed since
            # (another one planted under the same number, say) or the trusted keys did
            # (its key arrived later): then it is, and counted.
            attempt = f"{self._identity(wanted)}|{','.join(sorted(trusted))}"
            if attempt == self._refused:
                return False
            try:
                loaded = load_verified(self.registry, self.name, wanted, trusted=trusted)
                served = ServedModel.wrap(loaded)
            except RegistryError as exc:
                return self._refuse(str(exc), key=attempt)
            except Exception as exc:  # a model that fails its probe must not crash a worker
                return self._refuse(f"{self.name} {wanted}: unusable model: {exc}", key=attempt)
            previous = self.current
            self.current = served
            self._refused = None
            metrics.LATEST_REFUSED.set(0)
            self.not_ready_reason = ""
            metrics.model_swapped(previous, served)
            log.info(
                "model loaded",
                extra={
                    "event": "model_loaded",
                    "model": served.name,
                    "version": served.version,
                    "previous": previous.version if previous else None,
                    "runtime": served.runtime,
                },
            )
            return True

    def _identity(self, version: str) -> str:
        """The version, and which folder of that name: its inode and change time."""
        try:
            info = os.stat(self.registry / self.name / version)
        except (OSError, ValueError):
            return version
        return f"{version}@{info.st_ino}:{info.st_ctime_ns}"

    def _refuse(self, reason: str, key: str) -> bool:
        metrics.LATEST_REFUSED.set(1)
        if key != self._refused:
            self._refused = key
            metrics.MODEL_LOAD_FAILURES.inc()
            log.error(
                "model refused",
                extra={"event": "model_refused", "reason": reason, "serving": self.version},
            )
        if self.current is None:
            self.not_ready_reason = reason
        return False

    @property
    def version(self) -> str | None:
        current = self.current
        return current.version if current else None

    def start(self) -> None:
        """Load now, then keep watching LATEST in a daemon thread."""
        self.refresh()
        if self.reload_interval_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="model-reload", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.reload_interval_s):
            try:
                self.refresh()
            except Exception:  # keep watching whatever happens; the error is logged
                log.exception("model reload failed", extra={"event": "model_reload_error"})
                time.sleep(self.reload_interval_s)


# The key the store is kept under in app.extensions (a test may put a fake there).
EXTENSION = "model_store"


def init_app(app: Flask, settings: ServingSettings) -> ModelStore:
    """Give the app its model store and start it (Flask's init_app pattern, as flaskr's db)."""
    store = ModelStore(
        settings.registry, settings.model_name, settings.trusted_keys, settings.reload_interval_s
    )
    app.extensions[EXTENSION] = store
    store.start()
    return store


def get_store(app: Flask | None = None) -> ModelStore:
    """The model store of the app (by default the one handling the current request)."""
    return (app or current_app).extensions[EXTENSION]
