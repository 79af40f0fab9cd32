"""Names, paths and constants of the registry format (see FORMAT.md)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

FORMAT_VERSION = 2
ARTIFACT_FILE = "model.joblib"
# The same pipeline as an ONNX graph, proven equal by training: what serving runs.
ONNX_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
# Who published the version: an Ed25519 signature over the sha256 of every other file.
SIGNATURE_FILE = "signature.json"
LATEST_FILE = "LATEST"
LOCK_FILE = ".lock"
STAGING_PREFIX = ".staging-"
# A publisher writes LATEST.tmp-<random>, then renames it over LATEST.
LATEST_TMP_PREFIX = f"{LATEST_FILE}.tmp-"

# Most bytes a reader takes from LATEST ("v123456789\n" is 11) and from metadata.json
# (ours are ~3 KB); a larger file is refused unread.
LATEST_MAX_BYTES = 64
METADATA_MAX_BYTES = 1 << 20
SIGNATURE_MAX_BYTES = 64 << 10

# The keys of metadata.json in their fixed order, with the JSON type each must have.
METADATA_TYPES = {
    "format_version": int,
    "name": str,
    "version": str,
    "created_at": str,
    "model_type": str,
    "framework": dict,
    "signature": dict,
    "metrics": dict,
    "training_data": dict,
    "artifact": dict,
    "onnx": dict,
    "onnx_proof": dict,
}
METADATA_KEYS = tuple(METADATA_TYPES)
# Metadata keys that describe a file of the version: {"file", "sha256", "size_bytes"},
# each with the one file name it may have.
ARTIFACT_FILES = {"artifact": ARTIFACT_FILE, "onnx": ONNX_FILE}
ARTIFACT_KEYS = tuple(ARTIFACT_FILES)

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_VERSION_RE = re.compile(r"v[1-9][0-9]{0,8}")


class RegistryError(Exception):
    """The registry is missing, malformed or holds something we refuse to load."""


def check_name(name: str) -> str:
    """Return name if it is a valid model name, else raise RegistryError."""
    if not _NAME_RE.fullmatch(name) or ".." in name:
        raise RegistryError(f"invalid model name {name!r}: use [a-z0-9][a-z0-9._-]*")
    return name


def check_version(version: str) -> str:
    """Return version if it looks like vN, else raise RegistryError."""
    if not _VERSION_RE.fullmatch(version):
        raise RegistryError(f"invalid version {version!r}: expected v1, v2, ...")
    return version


def version_number(version: str) -> int:
    """Turn 'v12' into 12."""
    return int(check_version(version)[1:])


def model_dir(root: Path, name: str) -> Path:
    """The directory that holds every version of one model."""
    return Path(root) / check_name(name)


def version_dir(root: Path, name: str, version: str) -> Path:
    """The directory of one published version."""
    return model_dir(root, name) / check_version(version)


def list_versions(root: Path, name: str) -> list[str]:
    """Published versions of a model, oldest first (staging dirs are ignored)."""
    directory = model_dir(root, name)
    if not directory.is_dir():
        return []
    found = [p.name for p in directory.iterdir() if p.is_dir() and _VERSION_RE.fullmatch(p.name)]
    return sorted(found, key=version_number)


# How much of a file sha256_file holds in memory at a time.
HASH_CHUNK_BYTES = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
