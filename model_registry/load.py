"""Read side of the registry: resolve LATEST, verify the sha256s, then unpickle."""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_registry.files import read_file
from model_registry.format import (
    ARTIFACT_FILES,
    ARTIFACT_KEYS,
    FORMAT_VERSION,
    LATEST_FILE,
    LATEST_MAX_BYTES,
    METADATA_FILE,
    METADATA_MAX_BYTES,
    METADATA_TYPES,
    OPTIONAL_METADATA_KEYS,
    RegistryError,
    check_version,
    model_dir,
    version_dir,
)


@dataclass(frozen=True)
class LoadedModel:
    """A verified model and the metadata it was published with."""

    name: str
    version: str
    model: Any
    metadata: dict[str, Any]
    # The model as an ONNX graph (bytes of model.onnx, verified), when training wrote one.
    onnx: bytes | None = None


# How messages name a JSON value's type.
_KINDS = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "a boolean",
    list: "a list",
    dict: "an object",
    type(None): "null",
}
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _kind(value: object) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def read_latest(root: Path, name: str) -> str | None:
    """The version LATEST points at, or None when nothing was published yet."""
    try:
        content = read_file(root, model_dir(root, name) / LATEST_FILE, LATEST_MAX_BYTES)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RegistryError(f"cannot read {LATEST_FILE}: {exc}") from exc
    try:
        return check_version(content.decode("ascii").strip())
    except UnicodeDecodeError:
        raise RegistryError(f"{LATEST_FILE} is not ASCII text") from None
    except RegistryError as exc:
        raise RegistryError(f"{LATEST_FILE}: {exc}") from None


def _check_file_entry(metadata: dict[str, Any], key: str, label: str) -> None:
    """An artifact entry names its one file, a sha256 (64 hex digits) and a size."""
    entry = metadata.get(key)
    if entry is None and key in OPTIONAL_METADATA_KEYS:
        return
    valid = (
        isinstance(entry, dict)
        and entry.get("file") == ARTIFACT_FILES[key]
        and isinstance(entry.get("sha256"), str)
        and _SHA256.fullmatch(entry["sha256"]) is not None
        and type(entry.get("size_bytes")) is int
        and entry["size_bytes"] >= 0
    )
    if not valid:
        raise RegistryError(
            f"{label}: metadata has no valid {key} entry "
            f"(file {ARTIFACT_FILES[key]}, sha256 of 64 hex digits, size_bytes)"
        )


def _check_metadata(metadata: object, name: str, version: str) -> dict[str, Any]:
    """metadata, if it has the shape FORMAT.md gives it; else a RegistryError saying how not."""
    label = f"{name} {version}"
    if not isinstance(metadata, dict):
        raise RegistryError(f"{label}: {METADATA_FILE} is not an object")
    format_version = metadata.get("format_version")
    if type(format_version) is not int or format_version != FORMAT_VERSION:
        raise RegistryError(
            f"{label}: format_version {format_version!r} is not the supported {FORMAT_VERSION}"
        )
    if metadata.get("version") != version or metadata.get("name") != name:
        raise RegistryError(f"{label}: metadata names another model or version")
    for key in ARTIFACT_KEYS:
        _check_file_entry(metadata, key, label)
    for key, expected in METADATA_TYPES.items():
        if key not in metadata:
            raise RegistryError(f"{label}: metadata has no {key!r}")
        if type(metadata[key]) is not expected:
            raise RegistryError(
                f"{label}: metadata {key!r} is {_kind(metadata[key])}, expected {_KINDS[expected]}"
            )
    for part in ("inputs", "outputs"):
        names = metadata["signature"].get(part)
        if not (isinstance(names, list) and names and all(type(n) is str for n in names)):
            raise RegistryError(f"{label}: metadata signature.{part} is not a list of names")
    return metadata


def read_metadata(root: Path, name: str, version: str) -> dict[str, Any]:
    """Read one version's metadata.json and check its shape."""
    path = version_dir(root, name, version) / METADATA_FILE
    try:
        document = json.loads(read_file(root, path, METADATA_MAX_BYTES).decode("utf-8"))
    except FileNotFoundError as exc:
        raise RegistryError(f"{name} {version} has no {METADATA_FILE}") from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise RegistryError(f"{name} {version}: unreadable {METADATA_FILE}: {exc}") from exc
    return _check_metadata(document, name, version)


def _verified_bytes(root: Path, path: Path, expected: str, label: str) -> bytes:
    """The file's content, only if its sha256 is the one the metadata recorded.

    The bytes that were hashed are the bytes returned: the file cannot be swapped
    between the check and the use.
    """
    try:
        content = read_file(root, path)
    except OSError as exc:
        raise RegistryError(f"{label}: cannot read {path.name}: {exc}") from exc
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise RegistryError(
            f"{label}: sha256 of {path.name} is {actual[:12]}…, "
            f"metadata says {expected[:12]}…; refusing to load it"
        )
    return content


def _verified_files(root: Path, name: str, version: str, metadata: dict) -> dict[str, bytes]:
    """The bytes of every file the metadata lists (by metadata key), each checked by sha256."""
    directory = version_dir(root, name, version)
    return {
        key: _verified_bytes(
            root, directory / filename, metadata[key]["sha256"], f"{name} {version}"
        )
        for key, filename in ARTIFACT_FILES.items()
        if key in metadata
    }


def verify_version(root: Path, name: str, version: str) -> dict[str, Any]:
    """Every check loading makes, short of unpickling: metadata, then each file's sha256.

    Returns the metadata; raises RegistryError naming the first problem.
    """
    metadata = read_metadata(root, name, version)
    _verified_files(root, name, version, metadata)
    return metadata


def load_verified(root: Path, name: str, version: str | None = None) -> LoadedModel:
    """Load a version (LATEST by default) only after its sha256 matches the metadata."""
    if version is None:
        version = read_latest(root, name)
        if version is None:
            raise RegistryError(f"no model published yet under {model_dir(root, name)}")
    metadata = read_metadata(root, name, version)
    label = f"{name} {version}"
    # A pickle can run code: it is unpickled only once proven to be the file training
    # wrote. A version is one unit: a tampered model.onnx refuses it all the same.
    files = _verified_files(root, name, version, metadata)
    pickled, onnx_bytes = files["artifact"], files.get("onnx")
    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        try:
            model = joblib.load(io.BytesIO(pickled))
        except InconsistentVersionWarning as exc:
            raise RegistryError(f"{label}: {exc}") from exc
        except Exception as exc:
            raise RegistryError(f"{label}: cannot unpickle: {exc}") from exc
    return LoadedModel(name, version, model, metadata, onnx_bytes)
