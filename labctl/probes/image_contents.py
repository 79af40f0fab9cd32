"""Run inside an image: list what a runtime image must not ship; exit 1 if anything is found.

Prints one JSON object: finding -> list of paths (all empty in a clean image).
"""

import glob
import json
import os
import re
import shutil
import sys

SITE = "/opt/venv/lib/*/site-packages"
# Where a build could leave something behind; the system's own trees are not ours.
SCANNED = (
    "/app",
    "/opt",
    "/root",
    "/home",
    "/tmp",  # noqa: S108 - a path inside the scanned image
    "/run",
    "/var/cache",
    "/etc",
)
# File names that hold credentials. A token file is named for it ("token", ".token",
# "hf_token", "api-token.txt"), not merely containing the word ("_tokenizer.py").
SECRET_NAME = re.compile(
    r"(^id_(rsa|ecdsa|ed25519)$|\.key$|^\.netrc$|^\.pypirc$|^\.git-credentials$|pip_ca|ca_bundle"
    r"|(^|[._-])tokens?(\.(txt|json))?$|^\.bash_history$|^\.python_history$)",
    re.I,
)
# A PEM private key: the armour line and the start of a base64 body. A library that
# knows the format (cryptography's ssh.py) holds the armour line alone, as a constant.
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=]{48}")


# Packages an installer brings into a venv; none belongs in a runtime image.
INSTALLERS = ("pip", "setuptools", "pkg_resources", "_distutils_hack", "wheel", "uv")


def walk(top):
    for directory, _, files in os.walk(top):
        for name in files:
            yield os.path.join(directory, name), name


def private_keys(path):
    try:
        if os.path.islink(path) or os.path.getsize(path) > 1 << 20:
            return False
        with open(path, "rb") as handle:
            return PRIVATE_KEY.search(handle.read()) is not None
    except OSError:
        return False


def main() -> int:
    files = [(path, name) for top in SCANNED for path, name in walk(top)]
    found = {
        "compilers": [tool for tool in ("gcc", "cc", "g++", "make", "clang") if shutil.which(tool)],
        # Installers, and what pip leaves in a 3.11 venv (setuptools: unlocked, unhashed).
        "installers": [p for p in ("pip", "pip3", "uv") if shutil.which(p)]
        + [path for name in INSTALLERS for path in glob.glob(f"{SITE}/{name}")],
        "caches": [p for p in ("/root/.cache", "/tmp/requirements.lock") if os.path.exists(p)]  # noqa: S108
        + [p for p, _ in files if "/.cache/" in p or p.endswith(".whl")],
        "tests_in_venv": glob.glob(f"{SITE}/*/tests"),
        "secret_files": [p for p, name in files if SECRET_NAME.search(name)],
        "private_keys": [p for p, _ in files if private_keys(p)],
        "writable_code": [p for p in ("/app", "/opt/venv", "/etc/nginx") if os.access(p, os.W_OK)],
    }
    print(json.dumps(found))
    return 1 if any(found.values()) else 0


# Run as a script inside the image (`python -c`, so __main__); imported by the tests.
if __name__ == "__main__":
    sys.exit(main())
