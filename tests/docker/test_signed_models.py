"""Signed models on the real stack: a planted version runs no code, is never loaded, and
rollback refuses it; serving cannot unpickle at all; the signing key rotates."""

from __future__ import annotations

import contextlib
import json
import re
import time

import pytest

from tests.docker.conftest import compose_services, docker

pytestmark = pytest.mark.docker

MODEL = "/registry/iris-classifier"
# A pickle that runs code when loaded: it would leave a marker in the container's /tmp
# and in the registry volume (which outlives the throw-away containers of verify and
# rollback), wherever it is unpickled.
MARKERS = ("/tmp/planted-pickle-ran", f"{MODEL}/planted-pickle-ran")
EVIL = (
    "import os, pickle\n"
    "class Evil:\n"
    f"    def __reduce__(self): return (os.system, ('touch {' '.join(MARKERS)}',))\n"
    "open('model.joblib', 'wb').write(pickle.dumps(Evil()))\n"
)
# After planting: every sha256 and size in metadata.json made true again, so only the
# signature (which the planter cannot make) stands between the pickle and a reader.
FIX_UP = (
    "import hashlib, json, os\n"
    "meta = json.load(open('metadata.json'))\n"
    "for key in ('artifact', 'onnx'):\n"
    "    data = open(meta[key]['file'], 'rb').read()\n"
    "    meta[key]['sha256'] = hashlib.sha256(data).hexdigest()\n"
    "    meta[key]['size_bytes'] = len(data)\n"
    "meta['version'] = os.path.basename(os.getcwd())\n"
    "json.dump(meta, open('metadata.json', 'w'), indent=2)\n"
)


def _failures(stack) -> float:
    match = re.search(r"^serving_model_load_failures_total (\S+)$", stack.metrics(), re.M)
    return float(match.group(1)) if match else 0.0


def _refused(stack, version: str, failures_before: float, timeout_s: float = 30) -> str:
    """Wait until serving counts one more refused load, then return the reason its last
    log line refusing version gives (earlier tests may have refused the same number)."""
    deadline = time.monotonic() + timeout_s
    while _failures(stack) <= failures_before:
        assert time.monotonic() < deadline, f"serving never refused {version}"
        time.sleep(0.5)
    logs = stack.inv("logs", "--service", "serving", "--tail", "400").stdout
    refusals = [
        json.loads(line[line.index("{") :])["reason"]
        for line in logs.splitlines()
        if '"model refused"' in line and f" {version}" in line
    ]
    assert refusals, logs[-2000:]
    return refusals[-1]


@contextlib.contextmanager
def planted(stack, script: str):
    """As an attacker who can write the registry volume: copy the served version to the
    next number, change it with script (run inside the copy), point LATEST at it. Yields
    (served version, planted version, load failures counted before); cleans up after."""
    serving = stack.served_version()
    version = f"v{int(serving[1:]) + 1}"
    failures_before = _failures(stack)
    stack.registry_shell(
        f"set -e; cd {MODEL} && cp -a {serving} {version} && cd {version} && "
        f"{script} && echo {version} > ../LATEST"
    )
    try:
        yield serving, version, failures_before
    finally:
        stack.registry_shell(f"cd {MODEL} && rm -rf {version} && echo {serving} > LATEST")


def test_a_planted_version_with_every_sha256_fixed_up_is_never_loaded(own_stack):
    # A pickle that runs code, every checksum fixed up; the signature kept (now wrong).
    script = f'python -c "{EVIL}" && python -c "{FIX_UP}"'
    with planted(own_stack, script) as (serving, version, failures_before):
        reason = _refused(own_stack, version, failures_before)
        assert "signature" in reason, reason
        assert own_stack.served_version() == serving
        # Nothing ran the pickle: not serving, not the registry's own checks.
        verify = own_stack.registry_shell("python -m model_registry verify", check=False)
        assert f"BAD {version}" in verify.stdout and verify.returncode == 1
        rollback = own_stack.inv("rollback", "--to", version)
        assert rollback.returncode == 1
        ran = own_stack.exec("serving", "ls", *MARKERS, check=False).stdout
        ran += own_stack.registry_shell(f"ls {MARKERS[1]} 2>/dev/null", check=False).stdout
        assert ran.strip() == "", "the planted pickle ran"


def test_a_version_without_a_signature_is_refused(own_stack):
    script = f'rm signature.json && python -c "{FIX_UP}"'
    with planted(own_stack, script) as (serving, version, failures_before):
        assert "not signed" in _refused(own_stack, version, failures_before)
        assert own_stack.served_version() == serving


def test_serving_cannot_unpickle_and_holds_no_private_key(own_stack):
    for module in ("joblib", "sklearn", "pickle; import joblib"):
        result = own_stack.exec("serving", "python", "-c", f"import {module}", check=False)
        assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, module
    assert own_stack.exec("serving", "ls", "/signing", check=False).returncode != 0
    keys = own_stack.exec("serving", "ls", "/trusted-keys").stdout.split()
    assert keys and all(name.endswith(".pub") for name in keys)


def test_the_signing_key_rotates_and_old_versions_stay_trusted(own_stack):
    before = own_stack.inv("keys")
    assert before.returncode == 0, before.stderr
    old_key = re.search(r"^(\w{16})\s+trusted\s+\(signs new versions\)", before.stdout, re.M)
    assert old_key, before.stdout
    rotated = own_stack.inv("keys", "--rotate")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    trained = own_stack.inv("train")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    after = own_stack.inv("keys").stdout
    new_key = re.search(r"^(\w{16})\s+trusted\s+\(signs new versions\)", after, re.M)
    assert new_key and new_key.group(1) != old_key.group(1)
    assert re.search(rf"^{old_key.group(1)}\s+trusted$", after, re.M)
    # Every version verifies: the old ones with the old key, the new one with the new.
    verify = own_stack.registry_shell("python -m model_registry verify", check=False)
    assert verify.returncode == 0 and "BAD" not in verify.stdout, verify.stdout
    listed = own_stack.inv("models").stdout
    assert new_key.group(1) in listed and old_key.group(1) in listed


def test_the_private_key_is_in_no_image(images):
    search = "find / -xdev -name '*.pem' -path '*sign*' 2>/dev/null | head -1"
    for service in compose_services():
        command = ["--entrypoint", "sh", images.image(service), "-c", search]
        found = docker("run", "--rm", *command, check=False).stdout.strip()
        assert found == "", (service, found)
