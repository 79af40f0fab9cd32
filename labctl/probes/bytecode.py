"""Run inside an image: start what the image starts, then list modules that had no valid .pyc.

On a read-only root filesystem Python cannot write bytecode, so a module imported at
start without a valid .pyc beside it is compiled again at every start (the serving
image's builder stage compiles exactly what a start imports). Usage:

    python bytecode.py serving    # gunicorn's master and worker, the app, the model
    python bytecode.py training   # one training run, without publishing

Prints one JSON object {"checked": N, "missing": {module: why}}; exits 1 if any is missing.
"""

import contextlib
import importlib.util
import io
import json
import os
import sys
import time


def start_serving() -> None:
    """What gunicorn's master and a worker import, then the app with its model loaded."""
    # The metrics directory, as gunicorn's master makes it (app.metrics needs it at import).
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    from gunicorn.app.wsgiapp import WSGIApplication  # noqa: F401 - the master's own
    from gunicorn.arbiter import Arbiter  # noqa: F401
    from gunicorn.util import load_class

    from app import create_app, gunicorn_conf

    load_class(gunicorn_conf.worker_class, section="gunicorn.workers")
    application = create_app()
    store = application.extensions["model_store"]
    deadline = time.monotonic() + 60
    while store.current is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if store.current is None:
        sys.exit(f"no model loaded: {store.not_ready_reason}")


def start_training() -> None:
    """One training run, as the training service does it, publishing nothing."""
    from training.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        main(["--no-publish"])


def why_invalid(source: str) -> str | None:
    """None when source has a .pyc the import system will use, else why not."""
    cached = importlib.util.cache_from_source(source)
    try:
        with open(cached, "rb") as handle:
            header = handle.read(16)
    except OSError:
        return "no .pyc"
    if header[:4] != importlib.util.MAGIC_NUMBER:
        return "a .pyc of another Python"
    flags = int.from_bytes(header[4:8], "little")
    if flags & 0b1:  # hash-based
        if not flags & 0b10:
            return None  # unchecked: always used
        with open(source, "rb") as handle:
            same = importlib.util.source_hash(handle.read()) == header[8:16]
        return None if same else "a stale .pyc (source hash)"
    stat = os.stat(source)
    mtime = int.from_bytes(header[8:12], "little")
    size = int.from_bytes(header[12:16], "little")
    if mtime != int(stat.st_mtime) & 0xFFFFFFFF or size != stat.st_size & 0xFFFFFFFF:
        return "a stale .pyc (source time or size)"
    return None


def main() -> int:
    {"serving": start_serving, "training": start_training}[sys.argv[1]]()
    sources = {
        name: module.__spec__.origin
        for name, module in list(sys.modules.items())
        if getattr(module, "__spec__", None) is not None
        and (module.__spec__.origin or "").endswith(".py")
        and name != "__main__"
    }
    missing = {name: why for name, path in sorted(sources.items()) if (why := why_invalid(path))}
    print(json.dumps({"checked": len(sources), "missing": missing}))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
