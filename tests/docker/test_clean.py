"""`inv clean`: this project's dangling images go, anybody else's stay."""

from __future__ import annotations

import io
import tarfile
import uuid
from dataclasses import replace

import pytest
from invoke import Context

from labctl import docker as labctl_docker
from labctl.settings import BUILD_LABEL, Settings
from tests.docker.conftest import docker

pytestmark = pytest.mark.docker


def _dangling_image(label: str | None) -> str:
    """Import two tiny images under one tag; the first, now untagged, is dangling. Its id."""
    tag = f"labs-test-clean-{uuid.uuid4().hex[:8]}:leftover"
    ids = []
    for generation in range(2):
        layer = io.BytesIO()
        with tarfile.open(fileobj=layer, mode="w") as tar:
            content = f"generation {generation}\n".encode()
            member = tarfile.TarInfo("leftover.txt")
            member.size = len(content)
            tar.addfile(member, io.BytesIO(content))
        changes = ["--change", f"LABEL {label}"] if label else []
        result = docker("import", *changes, "-", tag, input=layer.getvalue(), timeout=60)
        ids.append(result.stdout.decode().strip())
    docker("rmi", tag)
    return ids[0]


def _exists(image_id: str) -> bool:
    return docker("image", "inspect", image_id, check=False).returncode == 0


def test_clean_prunes_this_projects_leftovers_and_nothing_else(docker_engine):
    key, value = BUILD_LABEL
    ours = _dangling_image(f"{key}={value}")
    theirs = _dangling_image(None)
    try:
        assert _exists(ours) and _exists(theirs)
        # Keep the whole build cache: the point here is the images.
        settings = replace(Settings.from_env(), build_cache_keep="1TB")
        labctl_docker.prune_leftovers(Context(), settings, in_stream=False)
        assert not _exists(ours)
        assert _exists(theirs)
    finally:
        docker("rmi", ours, theirs, check=False)
