"""The model registry: a directory of versioned, signed models (see FORMAT.md)."""

from model_registry.format import RegistryError, list_versions
from model_registry.load import (
    LoadedModel,
    load_pipeline,
    load_verified,
    read_latest,
    read_metadata,
    verify_version,
)
from model_registry.publish import Published, publish, set_latest
from model_registry.signing import SigningKey, TrustedKeys, ensure_key, load_trusted_keys

__all__ = [
    "LoadedModel",
    "Published",
    "RegistryError",
    "SigningKey",
    "TrustedKeys",
    "ensure_key",
    "list_versions",
    "load_pipeline",
    "load_trusted_keys",
    "load_verified",
    "publish",
    "read_latest",
    "read_metadata",
    "set_latest",
    "verify_version",
]
