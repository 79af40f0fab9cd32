"""Run inside an image: list what a runtime image must not ship; exit 1 if anything is found."""

import glob
import os
import shutil
import sys

SITE = "/opt/venv/lib/*/site-packages"
found = {
    "compilers": [tool for tool in ("gcc", "cc", "g++", "make") if shutil.which(tool)],
    "pip": [p for p in ("pip", "pip3") if shutil.which(p)] + glob.glob(f"{SITE}/pip"),
    "caches": [
        p
        for p in ("/root/.cache", "/root/.cache/pip", "/tmp/requirements.lock")
        if os.path.exists(p)
    ],
    "wheels": [
        wheel
        for top in ("/opt", "/root", "/tmp", "/app", "/var/cache")
        for wheel in glob.glob(top + "/**/*.whl", recursive=True)
    ],
    "secrets": glob.glob("/run/secrets/*"),
    "tests": glob.glob(f"{SITE}/*/tests"),
    "writable_code": [p for p in ("/app", "/opt/venv") if os.access(p, os.W_OK)],
    "shell_history": [
        p for p in ("/root/.bash_history", "/root/.python_history") if os.path.exists(p)
    ],
}
print(found)
sys.exit(1 if any(found.values()) else 0)
