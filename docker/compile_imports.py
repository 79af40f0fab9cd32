"""Byte-compile what a program imports at start, and only that (run in a builder stage).

    python compile_imports.py MODULE[:FUNCTION] ...

Imports each module (and calls FUNCTION, for what is imported only when it runs):
Python compiles every module that comes in and writes its .pyc. Each .pyc of this venv
is then made hash-checked (PEP 552) instead of time-stamped, and put beside its source.

Hash-checked, because BuildKit caches a copied venv by content, not by time stamps: the
venv in an image may carry other times than a time-stamped .pyc recorded, and Python
would ignore it. Only the 16-byte header changes (the code object is the same in both
kinds), so nothing is compiled twice.

With PYTHONPYCACHEPREFIX set to a BuildKit cache mount, the .pyc files of earlier
builds are found there: a module whose source is unchanged (its hash says so) is not
compiled again, so after a one-package change only that package is.
"""

import importlib
import importlib.util
import os
import py_compile
import sys


def write_atomically(path: str, data: bytes) -> None:
    """Readers (the other import process of the stage) see the old file or the new one."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


for target in sys.argv[1:]:
    module_name, _, function = target.partition(":")
    module = importlib.import_module(module_name)
    if function:
        getattr(module, function)()

HASH_CHECKED = (0b11).to_bytes(4, "little")  # flags: hash-based, check the source
prefix = sys.pycache_prefix
for module in list(sys.modules.values()):
    source = getattr(getattr(module, "__spec__", None), "origin", None) or ""
    if not (source.startswith(sys.prefix + "/") and source.endswith(".py")):
        continue
    cached = importlib.util.cache_from_source(source)  # under the prefix, when one is set
    with open(source, "rb") as handle:
        source_hash = importlib.util.source_hash(handle.read())
    try:
        with open(cached, "rb") as handle:
            pyc = handle.read()
    except FileNotFoundError:  # imported before bytecode writing began: compile it now
        py_compile.compile(
            source,
            cfile=cached,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
        with open(cached, "rb") as handle:
            pyc = handle.read()
    if pyc[:4] == importlib.util.MAGIC_NUMBER and pyc[4:16] != HASH_CHECKED + source_hash:
        pyc = pyc[:4] + HASH_CHECKED + source_hash + pyc[16:]
        write_atomically(cached, pyc)
    if prefix:  # beside the source too, where the image's Python looks
        sys.pycache_prefix = None
        beside = importlib.util.cache_from_source(source)
        sys.pycache_prefix = prefix
        write_atomically(beside, pyc)
