"""Byte-compile what a program imports at start, and only that (run in a builder stage).

    python compile_imports.py MODULE[:FUNCTION] ...

Imports each module (and calls FUNCTION, for what is imported only when it runs):
Python compiles every module that comes in once and writes its .pyc. Each .pyc of this
venv is then made hash-checked (PEP 552) instead of time-stamped: BuildKit caches a
copied venv by content, not by time stamps, so the venv in an image may carry other
times than the ones a time-stamped .pyc recorded, and Python would ignore the .pyc.
Only the 16-byte header changes (the code object is the same in both kinds), so
nothing is compiled twice.
"""

import importlib
import importlib.util
import py_compile
import sys

for target in sys.argv[1:]:
    module_name, _, function = target.partition(":")
    module = importlib.import_module(module_name)
    if function:
        getattr(module, function)()

HASH_CHECKED = (0b11).to_bytes(4, "little")  # flags: hash-based, check the source
for module in list(sys.modules.values()):
    source = getattr(getattr(module, "__spec__", None), "origin", None) or ""
    if not (source.startswith(sys.prefix + "/") and source.endswith(".py")):
        continue
    cached = importlib.util.cache_from_source(source)
    with open(source, "rb") as handle:
        source_hash = importlib.util.source_hash(handle.read())
    try:
        with open(cached, "rb") as handle:
            pyc = handle.read()
    except FileNotFoundError:  # imported before bytecode writing began: compile it now
        py_compile.compile(
            source, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
        )
        continue
    if pyc[:4] == importlib.util.MAGIC_NUMBER:
        with open(cached, "wb") as handle:
            handle.write(pyc[:4] + HASH_CHECKED + source_hash + pyc[16:])
