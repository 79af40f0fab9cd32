"""Run inside an image: list what a runtime image must not ship; exit 1 if anything is found.

Prints one JSON object: finding -> list of paths (all empty in a clean image).
"""

import glob
import json
import os
import re
import shutil
import stat
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


# The code and configuration a container runs from: none of it may be writable by the
# user the services run as (the probe itself runs as root, so it can see everything).
CODE_TREES = ("/app", "/opt", "/etc", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/local")
SERVICE_UID = SERVICE_GID = 10001


def writable_by_service(path: str) -> bool:
    """Whether UID/GID 10001 may write path, from its owner and mode (not os.access,
    which answers for the root running the probe)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(info.st_mode):
        return False
    if info.st_uid == SERVICE_UID:
        return bool(info.st_mode & stat.S_IWUSR)
    if info.st_gid == SERVICE_GID:
        return bool(info.st_mode & stat.S_IWGRP)
    return bool(info.st_mode & stat.S_IWOTH)


def writable_code() -> list[str]:
    """Files and folders of the code trees that the services' user could change."""
    found = []
    for top in CODE_TREES:
        for directory, folders, files in os.walk(top):
            for name in [*folders, *files]:
                path = os.path.join(directory, name)
                if writable_by_service(path) and not path.startswith("/etc/.pwd.lock"):
                    found.append(path)
    return found


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
        "writable_code": writable_code(),
    }
    print(json.dumps(found))
    return 1 if any(found.values()) else 0


# Run as a script inside the image (`python -c`, so __main__); imported by the tests.
if __name__ == "__main__":
    sys.exit(main())
