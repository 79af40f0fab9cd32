"""Read side of the registry: resolve LATEST, verify the signature and every sha256.

Serving reads the metadata and the ONNX graph, and never unpickles anything
(`load_verified`). The pickled Pipeline stays in the registry for Python users:
`load_pipeline` unpickles it only once the same checks have passed.
"""

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
    ARTIFACT_FILE,
    ARTIFACT_FILES,
    ARTIFACT_KEYS,
    FORMAT_VERSION,
    LATEST_FILE,
    LATEST_MAX_BYTES,
    METADATA_FILE,
    METADATA_MAX_BYTES,
    METADATA_TYPES,
    ONNX_FILE,
    SIGNATURE_FILE,
    SIGNATURE_MAX_BYTES,
    RegistryError,
    check_version,
    model_dir,
    version_dir,
)
from model_registry.signing import TrustedKeys, verify
from model_registry.tensors import check_tensors


@dataclass(frozen=True)
class LoadedModel:
    """A signed, verified version: its metadata and its ONNX graph (bytes of model.onnx)."""

    name: str
    version: str
    metadata: dict[str, Any]
    onnx: bytes


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
    # metadata.json is parsed JSON: every value is of one of these types.
    return _KINDS[type(value)]


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


def check_metadata(metadata: object, name: str, version: str) -> dict[str, Any]:
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
    check_tensors(metadata["signature"], label)
    return metadata


def _parse_metadata(raw: bytes, name: str, version: str) -> dict[str, Any]:
    try:
        document = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise RegistryError(f"{name} {version}: unreadable {METADATA_FILE}: {exc}") from exc
    return check_metadata(document, name, version)


def read_metadata(root: Path, name: str, version: str) -> dict[str, Any]:
    """Read one version's metadata.json and check its shape; not its signature (for
    listing: `verify_version` and the loads check that)."""
    path = version_dir(root, name, version) / METADATA_FILE
    try:
        raw = read_file(root, path, METADATA_MAX_BYTES)
    except FileNotFoundError as exc:
        raise RegistryError(f"{name} {version} has no {METADATA_FILE}") from exc
    except OSError as exc:
        raise RegistryError(f"{name} {version}: unreadable {METADATA_FILE}: {exc}") from exc
    return _parse_metadata(raw, name, version)


def signed_files(root: Path, name: str, version: str, trusted: TrustedKeys) -> dict[str, str]:
    """The sha256 of every file of the version, as signed by a trusted key (file -> hex);
    RegistryError when the version is unsigned or the signature does not hold."""
    path = version_dir(root, name, version) / SIGNATURE_FILE
    try:
        raw = read_file(root, path, SIGNATURE_MAX_BYTES)
    except FileNotFoundError:
        raise RegistryError(
            f"{name} {version} is not signed (no {SIGNATURE_FILE}); refusing it"
        ) from None
    except OSError as exc:
        raise RegistryError(f"{name} {version}: unreadable {SIGNATURE_FILE}: {exc}") from exc
    try:
        document = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise RegistryError(f"{name} {version}: unreadable {SIGNATURE_FILE}: {exc}") from exc
    return verify(document, trusted, name, version)


def _signed_bytes(
    root: Path, path: Path, signed: dict[str, str], label: str, max_bytes: int | None = None
) -> bytes:
    """The file's content, only if its sha256 is the one the signature vouches for.

    The bytes that were hashed are the bytes returned: the file cannot be swapped
    between the check and the use.
    """
    expected = signed.get(path.name)
    if expected is None:
        raise RegistryError(f"{label}: {path.name} is not covered by the signature")
    try:
        content = read_file(root, path, max_bytes)
    except OSError as exc:
        raise RegistryError(f"{label}: cannot read {path.name}: {exc}") from exc
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise RegistryError(
            f"{label}: sha256 of {path.name} is {actual[:12]}…, "
            f"the signature says {expected[:12]}…; refusing it"
        )
    return content


def _signed_metadata(root: Path, name: str, version: str, signed: dict[str, str]) -> dict[str, Any]:
    """metadata.json as signed; its artifact entries must agree with the signature."""
    directory = version_dir(root, name, version)
    label = f"{name} {version}"
    raw = _signed_bytes(root, directory / METADATA_FILE, signed, label, METADATA_MAX_BYTES)
    metadata = _parse_metadata(raw, name, version)
    for key, filename in ARTIFACT_FILES.items():
        if signed.get(filename) != metadata[key]["sha256"]:
            raise RegistryError(f"{label}: metadata and signature disagree on {filename}")
    return metadata


def verify_version(root: Path, name: str, version: str, trusted: TrustedKeys) -> dict[str, Any]:
    """Every check a load makes, and more: the signature by a trusted key, the metadata,
    the sha256 of every file, and no file the signature does not cover.

    Returns the metadata; raises RegistryError naming the first problem.
    """
    directory = version_dir(root, name, version)
    label = f"{name} {version}"
    if not directory.is_dir():
        raise RegistryError(f"{label} is not a complete published version (no such folder)")
    signed = signed_files(root, name, version, trusted)
    metadata = _signed_metadata(root, name, version, signed)
    present = {p.name for p in directory.iterdir()} - {SIGNATURE_FILE}
    unsigned = sorted(present - set(signed))
    if unsigned:
        raise RegistryError(f"{label}: {', '.join(unsigned)} not covered by the signature")
    for filename in sorted(signed):
        if filename != METADATA_FILE:
            _signed_bytes(root, directory / filename, signed, label)
    return metadata


def _resolve(root: Path, name: str, version: str | None) -> str:
    if version is not None:
        return check_version(version)
    latest = read_latest(root, name)
    if latest is None:
        raise RegistryError(f"no model published yet under {model_dir(root, name)}")
    return latest


def load_verified(
    root: Path, name: str, version: str | None = None, *, trusted: TrustedKeys
) -> LoadedModel:
    """A version (LATEST by default) for serving: the signature by a trusted key, then
    the signed metadata and the signed ONNX graph. The pickle is never read."""
    version = _resolve(root, name, version)
    signed = signed_files(root, name, version, trusted)
    metadata = _signed_metadata(root, name, version, signed)
    graph = _signed_bytes(
        root, version_dir(root, name, version) / ONNX_FILE, signed, f"{name} {version}"
    )
    return LoadedModel(name, version, metadata, graph)


def load_pipeline(
    root: Path, name: str, version: str | None = None, *, trusted: TrustedKeys
) -> Any:
    """The scikit-learn Pipeline of a version, for Python users (not serving): unpickled
    only once the whole version has passed verify_version, from the very bytes checked."""
    version = _resolve(root, name, version)
    verify_version(root, name, version, trusted)
    signed = signed_files(root, name, version, trusted)
    label = f"{name} {version}"
    pickled = _signed_bytes(root, version_dir(root, name, version) / ARTIFACT_FILE, signed, label)
    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        try:
            return joblib.load(io.BytesIO(pickled))
        except InconsistentVersionWarning as exc:
            raise RegistryError(f"{label}: {exc}") from exc
        except Exception as exc:
            raise RegistryError(f"{label}: cannot unpickle: {exc}") from exc
