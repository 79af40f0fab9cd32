"""How readers open a registry file: inside the registry, a regular file, bounded in size.

A registry may arrive from elsewhere (a volume, a copied folder): a symlink in it
must not make a reader load a model from outside it, and a LATEST linked to
/dev/zero or a FIFO must not make it read forever or block.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from model_registry.format import RegistryError

_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _shown(root: Path, path: Path) -> str:
    """The path as the messages name it: relative to the registry."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def inside(root: Path, path: Path) -> str:
    """path with every symlink resolved, if that stays inside the registry root."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        raise RegistryError(f"{_shown(root, path)} leads out of the registry (to {real})")
    return real


def read_file(root: Path, path: Path, max_bytes: int | None = None) -> bytes:
    """The content of a regular file inside the registry, refused beyond max_bytes.

    FileNotFoundError when it does not exist; RegistryError naming the file for
    anything refused; other OSErrors as they come.
    """
    fd = os.open(inside(root, path), _FLAGS)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RegistryError(f"{_shown(root, path)} is not a regular file")
        content = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    if max_bytes is not None and len(content) > max_bytes:
        raise RegistryError(f"{_shown(root, path)} is larger than {max_bytes} bytes; not read")
    return content
