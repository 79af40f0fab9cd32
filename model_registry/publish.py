"""Write side of the registry: atomic, monotonic, safe under concurrent publishers."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model_registry.clean import remove_litter
from model_registry.format import (
    ARTIFACT_FILE,
    FORMAT_VERSION,
    LATEST_FILE,
    LATEST_TMP_PREFIX,
    LOCK_FILE,
    METADATA_FILE,
    METADATA_KEYS,
    ONNX_FILE,
    SIGNATURE_FILE,
    STAGING_PREFIX,
    RegistryError,
    list_versions,
    model_dir,
    sha256_file,
    version_number,
)
from model_registry.load import check_metadata, read_latest, verify_version
from model_registry.signing import SigningKey, TrustedKeys, sign

# File names of a version that publish writes itself.
RESERVED_FILES = (ARTIFACT_FILE, ONNX_FILE, METADATA_FILE, SIGNATURE_FILE)

# How many times a publisher retries when other publishers keep taking the next version.
MAX_CLAIM_ATTEMPTS = 1000

# A test hook (FORMAT.md, "Publishing"): a publisher whose environment names one of these
# stages stops there, says so on stderr and waits to be killed, so a test can SIGKILL it
# at exactly that point. Unset, as everywhere but in tests, it costs one lookup per stage.
PAUSE_VARIABLE = "MODEL_REGISTRY_PAUSE_AT"
PAUSE_STAGES = (
    "staging",  # model.joblib, model.onnx and the extra files staged; no metadata, no signature
    "staged",  # every file staged and signed; no version claimed yet
    "claimed",  # the staging directory renamed to vN; LATEST not touched yet
    "latest-tmp-created",  # LATEST.tmp-* created, still empty
    "latest-tmp-written",  # LATEST.tmp-* written and synced; not yet renamed over LATEST
)


@dataclass(frozen=True)
class Published:
    """Where a publish landed."""

    name: str
    version: str
    path: Path
    sha256: str
    latest_updated: bool


def _pause_if_asked(stage: str) -> None:  # pragma: no mutate block
    """Stop at stage for good when PAUSE_VARIABLE names it (a test is about to kill us)."""
    if os.environ.get(PAUSE_VARIABLE) != stage:
        return
    parent = os.getppid()
    print(f"model_registry: paused at {stage} (pid {os.getpid()})", file=sys.stderr, flush=True)
    # Until the SIGKILL. Should the test die first, end as a kill would: no clean-up.
    while os.getppid() == parent:
        time.sleep(0.05)
    os._exit(1)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, document: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def _ordered_metadata(fields: dict[str, Any]) -> dict[str, Any]:
    missing = [key for key in METADATA_KEYS if key not in fields]
    if missing:
        raise RegistryError(f"metadata is missing {', '.join(missing)}")
    return {key: fields[key] for key in METADATA_KEYS}


def _write_artifact(path: Path, write) -> dict[str, Any]:
    """Write one artifact file with write(path), make it durable and readable; describe it."""
    write(path)
    _fsync_path(path)  # through a read-only descriptor: fsync needs no write access
    os.chmod(path, 0o644)
    return {"file": path.name, "sha256": sha256_file(path), "size_bytes": path.stat().st_size}


@contextlib.contextmanager
def _latest_lock(directory: Path):
    with open(directory / LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _replace_latest(directory: Path, version: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=LATEST_TMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            _pause_if_asked("latest-tmp-created")
            handle.write(version + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        _pause_if_asked("latest-tmp-written")
        os.replace(tmp, directory / LATEST_FILE)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_path(directory)


def set_latest(
    root: Path, name: str, version: str, *, trusted: TrustedKeys, only_if_newer: bool = False
) -> bool:
    """Point LATEST at a published version that passes every check loading makes, its
    signature by a trusted key included.

    Returns whether LATEST changed. A damaged LATEST (unreadable, not a version)
    names nothing: replacing it is how it is repaired.
    """
    directory = model_dir(root, name)
    # LATEST never names a version serving would refuse: that would be an outage
    # waiting for the next restart.
    verify_version(root, name, version, trusted)
    with _latest_lock(directory):
        try:
            current = read_latest(root, name)
        except RegistryError:
            current = None
        if current == version:
            return False
        if only_if_newer and current and version_number(current) > version_number(version):
            return False
        _replace_latest(directory, version)
        return True


def _next_version(root: Path, name: str) -> str:
    versions = list_versions(root, name)
    return f"v{version_number(versions[-1]) + 1}" if versions else "v1"


def _sign_staging(staging: Path, key: SigningKey, name: str, version: str) -> None:
    """Sign the sha256 of every file staged for version (metadata.json included)."""
    files = {
        path.name: sha256_file(path)
        for path in staging.iterdir()
        if path.is_file() and path.name != SIGNATURE_FILE
    }
    _write_json(staging / SIGNATURE_FILE, sign(key, name, version, files))
    os.chmod(staging / SIGNATURE_FILE, 0o644)


def publish(
    root: Path,
    name: str,
    model: Any,
    fields: dict[str, Any],
    *,
    onnx_model: bytes,
    signing_key: SigningKey,
    extra_files: dict[str, str] | None = None,
) -> Published:
    """Publish model, signed, with its metadata fields as the next version; point LATEST
    at it.

    fields holds every metadata key except the ones publish owns: format_version,
    version, created_at, artifact and onnx. onnx_model is the same model as an ONNX
    graph (what serving runs), published as model.onnx. extra_files (name -> text) land
    beside them, e.g. the human-readable report.json. The signature (signature.json)
    covers every file, with this name and version.
    """
    import joblib  # training's, not the readers': serving never unpickles

    root = Path(root)
    directory = model_dir(root, name)
    directory.mkdir(parents=True, exist_ok=True)
    # What killed publishers left behind, once old enough to belong to none at work.
    # Best effort: 'python -m model_registry clean' reports what it cannot remove.
    remove_litter(root, name)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory))
    try:
        # Versions are world-readable on purpose: serving reads them as another user.
        os.chmod(staging, 0o755)  # noqa: S103
        artifact = _write_artifact(staging / ARTIFACT_FILE, lambda path: joblib.dump(model, path))
        onnx = _write_artifact(staging / ONNX_FILE, lambda path: path.write_bytes(onnx_model))
        for filename, text in (extra_files or {}).items():
            if "/" in filename or filename in RESERVED_FILES:
                raise RegistryError(f"refusing extra file name {filename!r}")
            with open(staging / filename, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(staging / filename, 0o644)
        _pause_if_asked("staging")
        document = {
            **fields,
            "format_version": FORMAT_VERSION,
            "name": name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "artifact": artifact,
            "onnx": onnx,
        }
        for _ in range(MAX_CLAIM_ATTEMPTS):
            version = _next_version(root, name)
            document["version"] = version
            # Refused here, before a version number is spent, what every reader would
            # refuse (a missing key, a signature.tensors the graph does not have, ...).
            check_metadata(_ordered_metadata(document), name, version)
            _write_json(staging / METADATA_FILE, _ordered_metadata(document))
            os.chmod(staging / METADATA_FILE, 0o644)
            # The signature names the version: it is made again for each number tried.
            _sign_staging(staging, signing_key, name, version)
            _fsync_path(staging)
            _pause_if_asked("staged")
            try:
                os.rename(staging, directory / version)
            except OSError:
                # Another publisher took this number first: try the next one.
                if (directory / version).exists():
                    continue
                raise
            break
        else:
            raise RegistryError(f"could not claim a version for {name} after many attempts")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_path(directory)
    _pause_if_asked("claimed")
    trusted = {signing_key.key_id: signing_key.public}
    updated = set_latest(root, name, version, trusted=trusted, only_if_newer=True)
    return Published(name, version, directory / version, artifact["sha256"], updated)
