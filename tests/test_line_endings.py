"""What bash, BuildKit and nginx read keeps LF line endings in every checkout, also with
core.autocrlf=true (Git for Windows' default): .gitattributes marks those files, and a
clone made that way shows it working."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from labctl.settings import ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)


def _must_be_lf() -> list[str]:
    """The files a CRLF would break: bash scripts (a shebang, or .sh), Dockerfiles, nginx's
    configuration and the hash locks, found in the tree (new ones count too)."""
    found = {"labs", ".ci/run"}
    for pattern in ("**/*Dockerfile", "**/*.conf", "**/*.lock", "**/*.sh"):
        found |= {str(p.relative_to(ROOT)) for p in ROOT.glob(pattern)}
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if path.is_file() and path.open("rb").read(2) == b"#!":
            found.add(name.decode())
    ignored = (".venv/", "build/", ".hypothesis/", ".pytest_cache/", ".ruff_cache/")
    return sorted(name for name in found if not name.startswith(ignored))


def _attributes(paths: list[str], cwd: Path = ROOT) -> dict[str, dict[str, str]]:
    output = subprocess.run(
        ["git", "check-attr", "-z", "text", "eol", "--", *paths],
        cwd=cwd,
        capture_output=True,
        check=True,
        text=True,
    ).stdout.split("\0")
    attributes: dict[str, dict[str, str]] = {}
    for path, attribute, value in zip(output[0::3], output[1::3], output[2::3], strict=False):
        attributes.setdefault(path, {})[attribute] = value
    return attributes


def test_gitattributes_marks_every_file_a_crlf_would_break():
    paths = _must_be_lf()
    assert {"labs", ".ci/run", "docker/serving.Dockerfile", "proxy/nginx.conf"} <= set(paths)
    unmarked = {
        path: found
        for path, found in _attributes(paths).items()
        if found != {"text": "set", "eol": "lf"}
    }
    assert unmarked == {}, f"not marked 'text eol=lf' in .gitattributes: {unmarked}"


def test_they_have_lf_endings_in_this_tree():
    with_crlf = [path for path in _must_be_lf() if b"\r\n" in (ROOT / path).read_bytes()]
    assert with_crlf == []


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True)


def _checkout_with_autocrlf(tmp_path: Path, attributes: bool) -> bytes:
    """`labs` as a clone with core.autocrlf=true writes it, from a repository holding
    it (and this .gitattributes, or none)."""
    origin = tmp_path / ("with" if attributes else "without")
    origin.mkdir()
    shutil.copy(ROOT / "labs", origin / "labs")
    if attributes:
        shutil.copy(ROOT / ".gitattributes", origin / ".gitattributes")
    _git(origin, "init", "-q")
    _git(origin, "-c", "core.autocrlf=false", "add", ".")
    identity = [
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "-c",
        "commit.gpgsign=false",
    ]
    _git(origin, *identity, "commit", "-q", "-m", "files")
    clone = tmp_path / f"{origin.name}-clone"
    _git(tmp_path, "-c", "core.autocrlf=true", "clone", "-q", str(origin), str(clone))
    return (clone / "labs").read_bytes()


def test_a_clone_with_autocrlf_keeps_labs_runnable(tmp_path):
    assert b"\r\n" in _checkout_with_autocrlf(tmp_path, attributes=False)  # the failure
    assert b"\r\n" not in _checkout_with_autocrlf(tmp_path, attributes=True)
