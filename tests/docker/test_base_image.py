"""The local base image (for machines that cannot pull python:3.11-slim), built for real."""

from __future__ import annotations

import shutil

import pytest

from tests.docker.conftest import TEST_PROJECT_PREFIX, docker, run_invoke

pytestmark = pytest.mark.docker

TAG = f"{TEST_PROJECT_PREFIX}base/python:3.11-bookworm"


@pytest.fixture(scope="module")
def local_base(docker_engine):
    if shutil.which("debootstrap") is None:
        pytest.fail(
            "debootstrap is not installed (apt-get install debootstrap); .ci/run installs it"
        )
    result = run_invoke("base-image", "--force", env={"LABS_LOCAL_PYTHON_IMAGE": TAG}, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    yield TAG
    docker("image", "rm", "--force", TAG, check=False)


def test_it_is_python_3_11_with_venv_and_ca_roots(local_base):
    probe = (
        "import ssl, sys, venv, ensurepip; "
        "assert sys.version_info[:2] == (3, 11), sys.version; "
        "assert ssl.get_default_verify_paths().cafile or ssl.create_default_context().get_ca_certs() is not None; "
        "print(sys.version.split()[0])"
    )
    result = docker("run", "--rm", local_base, "python", "-c", probe)
    assert result.stdout.startswith("3.11")
    assert (
        docker("run", "--rm", local_base, "ls", "/etc/ssl/certs/ca-certificates.crt").returncode
        == 0
    )


def test_it_is_trimmed(local_base):
    listing = docker(
        "run", "--rm", local_base, "sh", "-c",
        "find /usr/share/doc /usr/share/man /var/lib/apt/lists /var/cache/apt -mindepth 1 | wc -l; "
        "ls /usr/share/locale",
    ).stdout.split()  # fmt: skip
    assert listing[0] == "0"  # the directories exist, empty
    assert set(listing[1:]) <= {"locale.alias"}  # no translations left


def test_it_says_what_it_is(local_base):
    description = docker(
        "image", "inspect", "-f",
        '{{index .Config.Labels "org.opencontainers.image.description"}}', local_base,
    ).stdout  # fmt: skip
    assert "stand-in for python:3.11-slim" in description
