"""Who published a version: an Ed25519 signature over the sha256 of every file in it.

A sha256 in metadata.json proves a file is intact, not where it came from: whoever can
write the registry can write both. So training signs each version with a private key
only it holds, and readers trust a set of public keys (several, so keys can rotate).
The signature covers the model name, the version and the sha256 of every file of the
version (metadata.json included), so a signed version can be neither altered, nor
extended, nor replayed under another name or number. See FORMAT.md for the threat model.

Ed25519 from `cryptography`, not the OpenSSF model-signing package: that one brings 26
packages (51 MB, sigstore and pydantic among them) into the serving image, and its
release of this writing fails to import without pyOpenSSL; cryptography alone is 16 MB.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from model_registry.format import SIGNATURE_FILE, RegistryError

# Where the keys are unless the environment says otherwise: the images' volumes (see
# compose.yaml). Training holds the private key; everyone who reads trusts the folder.
SIGNING_KEY_VARIABLE = "MODEL_SIGNING_KEY"
TRUSTED_KEYS_VARIABLE = "MODEL_TRUSTED_KEYS"
DEFAULT_SIGNING_KEY = "/signing/signing-key.pem"
DEFAULT_TRUSTED_KEYS = "/trusted-keys"


def key_paths(env: Mapping[str, str]) -> tuple[Path, Path]:
    """(private key file, trusted-keys folder) from the environment, else the defaults."""
    return (
        Path(env.get(SIGNING_KEY_VARIABLE) or DEFAULT_SIGNING_KEY),
        Path(env.get(TRUSTED_KEYS_VARIABLE) or DEFAULT_TRUSTED_KEYS),
    )


# Public keys a reader trusts, by key id.
TrustedKeys = dict[str, Ed25519PublicKey]

SIGNATURE_FORMAT = 1
ALGORITHM = "ed25519"
# A trusted key file is a PEM public key, named <key id>.pub; a private key a PEM file.
PUBLIC_SUFFIX = ".pub"
KEY_MAX_BYTES = 4096


@dataclass(frozen=True)
class SigningKey:
    """A private key and the id of its public half."""

    private: Ed25519PrivateKey
    key_id: str

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


def key_id(public: Ed25519PublicKey) -> str:
    """The id a public key is known by: the start of the sha256 of its raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _staged(path: Path, content: bytes, mode: int) -> Path:
    """content in a fresh file beside path (unique name, mode set from the start, on disk).

    The name is short whatever path's is: a key named up to the file system's limit still
    has room for its temporary beside it."""
    temporary = path.with_name(f".tmp-{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    return temporary


def _claim(path: Path, content: bytes, mode: int) -> bool:
    """Create path with content, whole, unless it exists: True if this call created it.

    The file appears complete or not at all (a hard link of a finished file), and of
    two callers at once exactly one wins: trainers starting together on a fresh volume
    agree on one key.
    """
    temporary = _staged(path, content, mode)
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink()


def trust(public: Ed25519PublicKey, trusted_dir: Path) -> Path:
    """Add a public key to a trusted-keys folder (idempotent); return its file."""
    trusted_dir.mkdir(parents=True, exist_ok=True)
    path = trusted_dir / f"{key_id(public)}{PUBLIC_SUFFIX}"
    if not path.exists():
        _claim(path, _public_pem(public), 0o644)
    return path


def _private_pem(private: Ed25519PrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def create_key(private_path: Path, trusted_dir: Path) -> SigningKey:
    """A new signing key (rotation): the private half replaces private_path (mode 0600),
    the public half joins trusted_dir, where older keys stay trusted. The public half is
    trusted before the private one can sign anything."""
    private = Ed25519PrivateKey.generate()
    trust(private.public_key(), trusted_dir)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(_staged(private_path, _private_pem(private), 0o600), private_path)
    return SigningKey(private, key_id(private.public_key()))


def _read_small(path: Path) -> bytes:
    with open(path, "rb") as handle:
        content = handle.read(KEY_MAX_BYTES + 1)
    if len(content) > KEY_MAX_BYTES:
        raise RegistryError(f"{path} is larger than a key can be")
    return content


def load_signing_key(private_path: Path) -> SigningKey:
    """The private key training signs with; RegistryError when missing or not Ed25519."""
    try:
        private = serialization.load_pem_private_key(_read_small(private_path), password=None)
    except FileNotFoundError:
        raise RegistryError(f"no signing key at {private_path}") from None
    except (OSError, ValueError) as exc:
        raise RegistryError(f"unreadable signing key {private_path}: {exc}") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise RegistryError(f"{private_path} is not an Ed25519 private key")
    return SigningKey(private, key_id(private.public_key()))


def ensure_key(private_path: Path, trusted_dir: Path) -> tuple[SigningKey, bool]:
    """The signing key, made on first use; and whether this call made it.

    Trainers starting together on a fresh volume race to make it: one wins, and every
    one of them signs with the winner's key.
    """
    if not private_path.exists():
        private = Ed25519PrivateKey.generate()
        private_path.parent.mkdir(parents=True, exist_ok=True)
        if _claim(private_path, _private_pem(private), 0o600):
            trust(private.public_key(), trusted_dir)
            return SigningKey(private, key_id(private.public_key())), True
    key = load_signing_key(private_path)
    trust(key.public, trusted_dir)
    return key, False


def load_trusted_keys(trusted_dir: Path) -> TrustedKeys:
    """Every public key of a trusted-keys folder, by key id (files named otherwise are
    refused: a key's name must be its id)."""
    keys: dict[str, Ed25519PublicKey] = {}
    try:
        paths = sorted(p for p in Path(trusted_dir).iterdir() if p.name.endswith(PUBLIC_SUFFIX))
    except OSError as exc:
        raise RegistryError(f"cannot read the trusted keys in {trusted_dir}: {exc}") from exc
    for path in paths:
        try:
            public = serialization.load_pem_public_key(_read_small(path))
        except (OSError, ValueError) as exc:
            raise RegistryError(f"unreadable trusted key {path}: {exc}") from exc
        if not isinstance(public, Ed25519PublicKey):
            raise RegistryError(f"trusted key {path} is not an Ed25519 public key")
        if path.name != f"{key_id(public)}{PUBLIC_SUFFIX}":
            raise RegistryError(f"trusted key {path.name} is not named by its id {key_id(public)}")
        keys[key_id(public)] = public
    return keys


def _message(name: str, version: str, key: str, files: dict[str, str]) -> bytes:
    """The exact bytes signed: canonical JSON of what the signature vouches for."""
    claim = {
        "format": SIGNATURE_FORMAT,
        "algorithm": ALGORITHM,
        "key_id": key,
        "model": name,
        "version": version,
        "files": dict(sorted(files.items())),
    }
    return json.dumps(claim, sort_keys=True, separators=(",", ":")).encode()


def sign(key: SigningKey, name: str, version: str, files: dict[str, str]) -> dict:
    """The signature document of a version whose files have these sha256s."""
    signature = key.private.sign(_message(name, version, key.key_id, files))
    return {
        "format": SIGNATURE_FORMAT,
        "algorithm": ALGORITHM,
        "key_id": key.key_id,
        "model": name,
        "version": version,
        "files": dict(sorted(files.items())),
        "signature": base64.b64encode(signature).decode("ascii"),
    }


def verify(document: object, trusted: TrustedKeys, name: str, version: str) -> dict[str, str]:
    """The signed sha256 of every file (file -> hex), once the signature is proven to be
    by a trusted key over this name and version; else RegistryError saying why."""
    label = f"{name} {version}"
    if not isinstance(document, dict):
        raise RegistryError(f"{label}: {SIGNATURE_FILE} is not an object")
    if document.get("format") != SIGNATURE_FORMAT or document.get("algorithm") != ALGORITHM:
        raise RegistryError(f"{label}: {SIGNATURE_FILE} is not an Ed25519 signature we read")
    key = document.get("key_id")
    if key not in trusted:
        raise RegistryError(f"{label}: signed by key {key!r}, which is not trusted")
    files = document.get("files")
    valid_files = isinstance(files, dict) and all(
        isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in files.items()
    )
    if not valid_files or document.get("model") != name or document.get("version") != version:
        raise RegistryError(f"{label}: {SIGNATURE_FILE} names other files, model or version")
    try:
        signature = base64.b64decode(str(document.get("signature")), validate=True)
        trusted[key].verify(signature, _message(name, version, key, files))
    except (InvalidSignature, ValueError):
        raise RegistryError(f"{label}: the signature does not match; refusing it") from None
    return dict(files)
