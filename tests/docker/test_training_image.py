"""The training image and Lab 1, on a real engine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid

import pytest

from labctl.settings import BUILD_LABEL, ROOT
from model_registry.format import sha256_file
from tests.docker.conftest import docker, project_name, run_invoke

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def image(images) -> str:
    return images.image("training")


def test_runs_as_unprivileged_appuser(image):
    assert docker("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip() == (
        "10001:10001"
    )
    identity = docker("run", "--rm", "--entrypoint", "id", image).stdout
    assert identity.startswith("uid=10001(appuser) gid=10001(appuser)")
    shell = docker("run", "--rm", "--entrypoint", "getent", image, "passwd", "appuser").stdout
    assert shell.strip().endswith(":/nonexistent:/usr/sbin/nologin")


def _lab1(*args: str):
    """`inv lab1 ARGS` on a Compose project of this test run's own."""
    project = project_name("lab1")
    result = run_invoke("lab1", *args, env={"LAB1_PROJECT": project})
    left = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout
    assert left.strip() == "", "inv lab1 left its container behind"
    return result


def test_lab1_prints_the_report_and_publishes_to_a_host_folder(images, tmp_path):
    registry = tmp_path / "registry"
    result = _lab1("--no-build", "--registry", str(registry))
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and "confusion matrix" in result.stdout
    assert "published iris-classifier v1" in result.stdout
    version_dir = registry / "iris-classifier" / "v1"
    assert (registry / "iris-classifier" / "LATEST").read_text() == "v1\n"
    metadata = json.loads((version_dir / "metadata.json").read_text())
    assert metadata["artifact"]["sha256"] == sha256_file(version_dir / "model.joblib")
    assert metadata["framework"]["python"].startswith("3.11")


def test_lab1_propagates_the_exit_code(images):
    result = _lab1("--no-build", "--model", "forest")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr


def test_lab1_runs_the_compose_training_service_that_inv_audit_lab_1_passes(images):
    """Lab 1 is Lab 2's hardened training service run once: `inv audit --lab 1` reads
    back the container it makes (user, read-only root, no capabilities, limits), its
    internal network and its image, every row passing, and leaves nothing behind."""
    project = project_name("lab1-audit")
    result = run_invoke("audit", "--lab", "1", env={"LAB1_PROJECT": project})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.endswith((" pass", " FAIL"))]
    assert rows and all(row.endswith(" pass") for row in rows), rows
    assert f"all {len(rows)} audit checks passed" in result.stdout
    checks = {row.split("  ")[0] for row in rows}
    expected = {
        "training: user",
        "training: read-only root filesystem",
        "training: capabilities dropped",
        "training: no-new-privileges",
        "training: CPU limit",
        "training: memory limit",
        "training: pids limit",
        "network training: internal",
        "training image: secrets in history",
    }
    assert expected <= checks, expected - checks
    assert not {check for check in checks if check.startswith(("serving", "proxy"))}
    left = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout
    assert left.strip() == ""


PROBE = (ROOT / "labctl" / "probes" / "image_contents.py").read_text()


def test_runtime_image_ships_no_build_tools_caches_or_secrets(image):
    # As root (without capabilities): it must see what appuser cannot, like /root/.cache.
    options = ["--rm", "--user", "0", "--cap-drop", "ALL", "--entrypoint", "python"]
    result = docker("run", *options, image, "-c", PROBE, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_oci_labels_name_version_and_revision(images, image):
    labels = json.loads(
        docker("image", "inspect", "--format", "{{json .Config.Labels}}", image).stdout
    )
    assert labels["org.opencontainers.image.version"] == images.version
    assert labels["org.opencontainers.image.revision"] == images.revision
    assert labels["org.opencontainers.image.title"].endswith("training")
    key, value = BUILD_LABEL
    assert labels[key] == value


def _step_numbers(output: str, pattern: str) -> set[str]:
    return {m.group(1) for m in re.finditer(rf"^#(\d+) \[[^\]]*\] {pattern}", output, re.M)}


def test_code_only_change_reuses_the_dependency_layers(images, tmp_path):
    tree = tmp_path / "tree"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    with open(tree / "training" / "__init__.py", "a") as handle:
        # Unique each run: an earlier run's identical change would be a cache hit.
        handle.write(f"# a code-only change {uuid.uuid4()}\n")
    prefix = "labs-test-cache"
    result = run_invoke(
        "build", "--service", "training", cwd=tree, env={"LABS_IMAGE_PREFIX": prefix}
    )
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        log = result.stdout + result.stderr
        # The installer, the install and the bytecode steps are reused; the code is not.
        install = _step_numbers(log, r"RUN --mount=type=(cache|bind)")
        copy_code = _step_numbers(log, r"COPY training/")
        assert len(install) == 3 and copy_code, log[-3000:]
        assert all(re.search(rf"^#{n} CACHED", log, re.M) for n in install), log[-3000:]
        assert not any(re.search(rf"^#{n} CACHED", log, re.M) for n in copy_code), log[-3000:]
    finally:
        for tag in ("latest", images.version):
            docker("image", "rm", "--force", f"{prefix}/training:{tag}", check=False)
