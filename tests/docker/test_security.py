"""Least privilege and secrets, verified on real images and a running stack."""

from __future__ import annotations

import json
import re
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.docker.conftest import compose_services, docker, project_name, run_invoke

pytestmark = pytest.mark.docker


# The rows that back README's network claims, each of which must be there and pass.
NETWORK_ROWS = [
    "from the training network: connect to serving",
    "from the training network: connect to proxy",
    "from the default bridge: connect to serving",
    "from the default bridge: connect to proxy",
    "from the frontend network (control): connect to serving",
    "from the frontend network (control): connect to proxy",
    "from the proxy: connect to serving",
    "network training: internal",
    "network backend: internal",
    "network frontend: internal",
]
# How many rows the audit makes on Lab 2, by what it examines, so that a row that
# disappears is caught and a new service needs no edit here: per service, 7 from its
# container's configuration, its published ports, whether it mounts the signing key and
# 8 from its image; 4 more inside each running container; one per network; and 11 of
# Lab 2's own (serving cannot write the registry, the model is signed and cannot be
# unpickled, /metrics is not public, and 7 reachability probes).
PER_SERVICE, PER_RUNNING_CONTAINER, NETWORKS, LAB2_ROWS = 17, 4, 3, 11


def audit_rows(project: str) -> int:
    services = compose_services()
    running = docker(
        "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"
    ).stdout.split()
    return PER_SERVICE * len(services) + PER_RUNNING_CONTAINER * len(running) + NETWORKS + LAB2_ROWS


def test_audit_passes_on_lab2(lab2):
    result = lab2.inv("audit")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.endswith((" pass", " FAIL"))]
    assert len(rows) == audit_rows(lab2.settings.compose_project), rows
    assert all(row.endswith(" pass") for row in rows), rows
    checks = {row.split("  ")[0] for row in rows}
    assert set(NETWORK_ROWS) <= checks, set(NETWORK_ROWS) - checks


@pytest.mark.parametrize(
    ("update", "row"),
    [
        (["--pids-limit", "4096"], "serving: pids limit"),
        (["--memory", "1g", "--memory-swap", "2g"], "serving: memory limit"),
        (["--cpus", "2"], "serving: CPU limit"),
    ],
)
def test_audit_catches_a_weakened_container(own_stack, update, row):
    serving = own_stack.container("serving")
    original = docker(
        "inspect",
        "-f",
        "{{.HostConfig.PidsLimit}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
        serving,
    ).stdout.split()
    docker("update", *update, serving)
    try:
        result = own_stack.inv("audit")
        assert result.returncode == 1
        failing = [line for line in result.stdout.splitlines() if line.endswith("FAIL")]
        assert [line.split("  ")[0] for line in failing] == [row], failing
    finally:
        pids, memory, nano = original
        docker(
            "update",
            "--pids-limit",
            pids,
            "--memory",
            memory,
            "--memory-swap",
            memory,
            "--cpus",
            str(int(nano) / 1e9),
            serving,
        )


def _contains(image: str, patterns: list[bytes], workdir: Path) -> list[bytes]:
    """The regex patterns found anywhere in `docker save IMAGE` (layers, config, history)."""
    archive = workdir / "image.tar"
    docker("save", "-o", str(archive), image, timeout=600)
    compiled = {pattern: re.compile(pattern) for pattern in patterns}
    found = set()
    tail = b""
    with open(archive, "rb") as handle:
        while chunk := handle.read(8 << 20):
            window = tail + chunk
            found.update(p for p, regex in compiled.items() if regex.search(window))
            tail = window[-4096:]
    archive.unlink()
    return sorted(found)


def test_the_build_ca_bundle_never_lands_in_an_image(images, tmp_path):
    """Build every image with a CA bundle carrying a unique canary, then search them whole."""
    canary = f"labs-canary-{uuid.uuid4().hex}"
    bundle = tmp_path / "ca-bundle.pem"
    system = Path(images.ca_bundle or "/etc/ssl/certs/ca-certificates.crt")
    bundle.write_text(f"# {canary}\n" + (system.read_text() if system.is_file() else ""))
    prefix = project_name("secret")
    result = run_invoke(
        "build",
        "--no-cache",
        env={"LABS_IMAGE_PREFIX": prefix, "LABS_CA_BUNDLE": str(bundle), "PIP_CERT": str(bundle)},
    )
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert f"build: the installers trust {bundle}" in result.stdout
        for service in compose_services():
            image = f"{prefix}/{service}:{images.version}"
            history = docker("history", "--no-trunc", image).stdout
            assert canary not in history and str(bundle) not in history
            needles = [re.escape(canary.encode()), re.escape(str(bundle).encode())]
            assert _contains(image, needles, tmp_path) == []
    finally:
        for service in compose_services():
            for tag in (images.version, "latest"):
                docker("image", "rm", "--force", f"{prefix}/{service}:{tag}", check=False)


def _base_layer_count(images, image: str) -> int:
    """How many of the image's layers come from its base image (not ours to judge)."""
    layers = docker("image", "inspect", "-f", "{{json .RootFS.Layers}}", image).stdout
    for base in (images.python_image, images.official_python_image, images.local_python_image):
        inspected = docker(
            "image", "inspect", "-f", "{{json .RootFS.Layers}}", base or "", check=False
        )
        if inspected.returncode == 0:
            base_layers = json.loads(inspected.stdout)
            if json.loads(layers)[: len(base_layers)] == base_layers:
                return len(base_layers)
    raise AssertionError(f"cannot find the base image of {image}")


def _layers_matching(image: str, pattern: bytes, skip: int, workdir: Path) -> list[str]:
    """Files of the image's own layers (after `skip` base layers) whose bytes match pattern."""
    archive = workdir / "image.tar"
    docker("save", "-o", str(archive), image, timeout=600)
    regex = re.compile(pattern)
    hits = []
    with tarfile.open(archive) as saved:
        manifest = json.load(saved.extractfile("manifest.json"))[0]
        for layer in manifest["Layers"][skip:]:
            with tarfile.open(fileobj=saved.extractfile(layer)) as files:
                for member in files:
                    if member.isfile() and regex.search(files.extractfile(member).read()):
                        hits.append(member.name)
    archive.unlink()
    return hits


@pytest.mark.parametrize("service", compose_services())
def test_no_private_key_or_credential_in_our_layers(images, service, tmp_path):
    image = images.image(service)
    skip = _base_layer_count(images, image)
    # A PEM block with its base64 body (libcrypto holds the bare header as a constant),
    # or a credentials-file line.
    secret = rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=]{48}|aws_secret_access_key\s*="
    assert _layers_matching(image, secret, skip, tmp_path) == []
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    assert not re.search(r"(?i)(token|password|secret)=\S", history)
