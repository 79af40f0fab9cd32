"""Read side of the registry: resolve LATEST, verify the sha256s, then unpickle."""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_registry.format import (
    ARTIFACT_FILE,
    FORMAT_VERSION,
    LATEST_FILE,
    METADATA_FILE,
    ONNX_FILE,
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


def read_latest(root: Path, name: str) -> str | None:
    """The version LATEST points at, or None when nothing was published yet."""
    try:
        text = (model_dir(root, name) / LATEST_FILE).read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"cannot read {LATEST_FILE}: {exc}") from exc
    return check_version(text.strip())


def read_metadata(root: Path, name: str, version: str) -> dict[str, Any]:
    """Read and sanity-check one version's metadata.json."""
    path = version_dir(root, name, version) / METADATA_FILE
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RegistryError(f"{name} {version} has no {METADATA_FILE}") from exc
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{name} {version}: unreadable {METADATA_FILE}: {exc}") from exc
    if not isinstance(metadata, dict):
        raise RegistryError(f"{name} {version}: {METADATA_FILE} is not an object")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise RegistryError(
            f"{name} {version}: format_version {metadata.get('format_version')!r} "
            f"is not the supported {FORMAT_VERSION}"
        )
    if metadata.get("version") != version or metadata.get("name") != name:
        raise RegistryError(f"{name} {version}: metadata names another model or version")
    artifact = metadata.get("artifact")
    if not isinstance(artifact, dict) or artifact.get("file") != ARTIFACT_FILE:
        raise RegistryError(f"{name} {version}: metadata has no valid artifact entry")
    onnx = metadata.get("onnx")
    if onnx is not None and (not isinstance(onnx, dict) or onnx.get("file") != ONNX_FILE):
        raise RegistryError(f"{name} {version}: metadata has an invalid onnx entry")
    return metadata


def _verified_bytes(path: Path, expected: object, label: str) -> bytes:
    """The file's content, only if its sha256 is the one the metadata recorded.

    The bytes that were hashed are the bytes returned: the file cannot be swapped
    between the check and the use.
    """
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise RegistryError(f"{label}: cannot read {path.name}: {exc}") from exc
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise RegistryError(
            f"{label}: sha256 of {path.name} is {actual[:12]}…, "
            f"metadata says {str(expected)[:12]}…; refusing to load it"
        )
    return content


def load_verified(root: Path, name: str, version: str | None = None) -> LoadedModel:
    """Load a version (LATEST by default) only after its sha256 matches the metadata."""
    if version is None:
        version = read_latest(root, name)
        if version is None:
            raise RegistryError(f"no model published yet under {model_dir(root, name)}")
    metadata = read_metadata(root, name, version)
    label = f"{name} {version}"
    directory = version_dir(root, name, version)
    # A pickle can run code: it is unpickled only once proven to be the file training
    # wrote. A version is one unit: a tampered model.onnx refuses it all the same.
    pickled = _verified_bytes(directory / ARTIFACT_FILE, metadata["artifact"].get("sha256"), label)
    onnx = metadata.get("onnx")
    onnx_bytes = _verified_bytes(directory / ONNX_FILE, onnx.get("sha256"), label) if onnx else None
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
