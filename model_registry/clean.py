"""Remove what killed publishers leave behind: old .staging-* directories and LATEST.tmp-* files.

A publisher removes its own leftovers when it fails, but not when it is killed
(SIGKILL, OOM, a host crash). Readers ignore them; they only take space.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from model_registry.format import LATEST_TMP_PREFIX, STAGING_PREFIX, model_dir

# Leftovers are removed only once nothing in them changed for this long: a fresh one
# may belong to a publisher still at work (a publish takes seconds).
STALE_AFTER_S = 3600


@dataclass
class Cleaned:
    """What one clean removed (each with its age in seconds) and what it could not remove."""

    removed: dict[Path, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def _last_change(path: Path) -> float:
    """mtime of the entry itself (a symlink is not followed) or of anything directly in it."""
    info = path.lstat()
    newest = info.st_mtime
    if stat.S_ISDIR(info.st_mode):
        with os.scandir(path) as entries:
            for entry in entries:
                newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
    return newest


def _remove(path: Path) -> None:
    """A directory with its content; a file or symlink itself (never what a link points at)."""
    if stat.S_ISDIR(path.lstat().st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def remove_litter(root: Path, name: str, now: float | None = None) -> Cleaned:
    """Remove the model's staging dirs and LATEST.tmp files unchanged for STALE_AFTER_S."""
    directory = model_dir(root, name)
    cleaned = Cleaned()
    if not directory.is_dir():
        return cleaned
    now = time.time() if now is None else now
    for path in sorted(directory.iterdir()):
        if not path.name.startswith((STAGING_PREFIX, LATEST_TMP_PREFIX)):
            continue
        try:
            age = now - _last_change(path)
            if age < STALE_AFTER_S:
                continue
            _remove(path)
        except FileNotFoundError:  # its publisher finished, or another cleaner was first
            continue
        except OSError as exc:
            cleaned.failed.append(f"cannot remove {path.name}: {exc}")
            continue
        cleaned.removed[path] = age
    return cleaned
