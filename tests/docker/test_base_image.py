"""The local base image (for machines that cannot pull python:3.11-slim), built for real."""

from __future__ import annotations

import pytest

from tests.docker.conftest import docker, project_name, run_invoke

pytestmark = pytest.mark.docker

TAG = f"{project_name('base')}/python:3.11-bookworm"


@pytest.fixture(scope="module")
def local_base(docker_engine):
    # The task installs mmdebstrap itself when it is missing (root on Debian).
    result = run_invoke("base-image", "--force", env={"LABS_LOCAL_PYTHON_IMAGE": TAG}, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    yield TAG
    docker("image", "rm", "--force", TAG, check=False)


def test_it_is_python_3_11_with_venv_and_the_pip_wheel(local_base):
    """What the builder stages use: Python 3.11, venv, and the pip wheel ensurepip carries."""
    probe = (
        "import sys, venv, ensurepip; "
        "assert sys.version_info[:2] == (3, 11), sys.version; "
        "print(sys.version.split()[0])"
    )
    result = docker("run", "--rm", local_base, "python", "-c", probe)
    assert result.stdout.startswith("3.11")
    wheels = docker("run", "--rm", local_base, "sh", "-c", "ls /usr/share/python-wheels").stdout
    assert "pip-" in wheels


def test_it_carries_only_the_packages_it_needs(local_base):
    packages = docker(
        "run", "--rm", local_base, "dpkg-query", "-W", "-f", "${Package}\n"
    ).stdout.split()
    assert {"python3", "python3-venv", "python-is-python3", "apt"} <= set(packages)
    # No Perl (usrmerge would pull it in), no pip (24 MB), no compilers.
    assert not {"perl", "usrmerge", "python3-pip", "gcc"} & set(packages)


def test_it_is_trimmed(local_base):
    listing = docker(
        "run",
        "--rm",
        local_base,
        "sh",
        "-c",
        "find /usr/share/man /var/lib/apt/lists /var/cache/apt -type f -size +0 | wc -l; "
        "find /usr/share/doc -type f ! -name copyright | wc -l; "
        "ls /usr/share/locale",
    ).stdout.split()
    assert listing[0] == "0"  # no man pages, apt lists or downloaded packages
    assert listing[1] == "0"  # of the docs, only the licences
    assert set(listing[2:]) <= {"locale.alias"}  # no translations left


def test_it_says_what_it_is(local_base):
    description = docker(
        "image",
        "inspect",
        "-f",
        '{{index .Config.Labels "org.opencontainers.image.description"}}',
        local_base,
    ).stdout
    assert "stand-in for python:3.11-slim" in description
