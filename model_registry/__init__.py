"""The model registry: a directory of versioned, checksummed models (see FORMAT.md)."""

from model_registry.format import RegistryError, list_versions
from model_registry.load import LoadedModel, load_verified, read_latest, read_metadata
from model_registry.publish import Published, publish, set_latest

__all__ = [
    "LoadedModel",
    "Published",
    "RegistryError",
    "list_versions",
    "load_verified",
    "publish",
    "read_latest",
    "read_metadata",
    "set_latest",
]
