"""Setting the machine up: install what is missing on Debian as root, else one line saying how."""

from __future__ import annotations

import subprocess
import sys

import pytest
from invoke import Exit, MockContext, Result

from labctl import docker, provision
from labctl.settings import ROOT
from tests.conftest import in_ci

WRK = provision.Need("wrk", "wrk", "the load generator of inv bench")


def _machine(monkeypatch, *, root: bool, apt: bool, present: set[str]):
    """Pretend to be a machine: root or not, with or without apt-get, these commands."""
    installed = set(present)

    def which(name):
        if name == "apt-get":
            return "/usr/bin/apt-get" if apt else None
        return f"/usr/bin/{name}" if name in installed else None

    monkeypatch.setattr(provision.shutil, "which", which)
    monkeypatch.setattr(provision.os, "geteuid", lambda: 0 if root else 1000)
    return installed


def test_nothing_missing_runs_nothing(monkeypatch):
    _machine(monkeypatch, root=True, apt=True, present={"wrk"})
    provision.ensure(MockContext(), [WRK])  # MockContext fails on any command


@pytest.mark.parametrize(("root", "apt"), [(False, True), (True, False), (False, False)])
def test_where_it_cannot_install_it_says_the_command_in_one_line(monkeypatch, root, apt):
    _machine(monkeypatch, root=root, apt=apt, present=set())
    with pytest.raises(Exit) as caught:
        provision.ensure(MockContext(), [WRK])
    message = caught.value.message
    assert "\n" not in message
    assert "wrk (the load generator of inv bench)" in message
    assert f"'{'' if root else 'sudo '}apt-get install -y wrk'" in message


def test_as_root_on_debian_it_installs_and_says_what_and_why(monkeypatch, capsys):
    installed = _machine(monkeypatch, root=True, apt=True, present=set())
    ran = []

    class AptContext(MockContext):
        def run(self, command, **kwargs):
            ran.append(command)
            if command.startswith("apt-get install"):
                installed.add("wrk")
            return Result()

    provision.ensure(AptContext(), [WRK])
    assert ran == ["apt-get update -qq", "apt-get install -y -qq --no-install-recommends wrk"]
    out = capsys.readouterr().out
    assert "setup: installing wrk: the load generator of inv bench" in out
    assert "setup: installed wrk in" in out


def test_a_failed_install_is_one_line_with_the_command(monkeypatch):
    _machine(monkeypatch, root=True, apt=True, present=set())
    c = MockContext(
        run={
            "apt-get update -qq": Result(),
            "apt-get install -y -qq --no-install-recommends wrk": Result(
                stderr="E: Unable to locate package wrk\n", exited=100
            ),
        }
    )
    with pytest.raises(Exit, match=r"could not install wrk \(E: Unable to locate package wrk\)"):
        provision.ensure(c, [WRK])


def test_a_running_engine_is_left_alone(monkeypatch, capsys):
    monkeypatch.setattr(docker, "engine_error", lambda c: None)
    monkeypatch.setattr(docker, "server_version", lambda c: "27.1.0")
    provision.ensure_engine(MockContext())
    assert capsys.readouterr().out == "setup: Docker 27.1.0 is running\n"


def test_no_engine_and_no_way_to_install_one_is_one_line(monkeypatch):
    _machine(monkeypatch, root=False, apt=True, present={"docker"})
    monkeypatch.setattr(docker, "engine_error", lambda c: "Cannot connect to the Docker daemon")
    with pytest.raises(Exit) as caught:
        provision.ensure_engine(MockContext())
    assert "\n" not in caught.value.message
    assert caught.value.message.startswith("no Docker engine answers; start it")


def test_the_front_door_without_a_task_shows_how_to_use_it():
    result = subprocess.run([str(ROOT / "labs")], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "./labs lab2" in result.stdout and "./labs test" in result.stdout


def test_the_front_door_refuses_an_old_python_in_one_line(tmp_path):
    old = tmp_path / "python3.10"
    old.write_text("#!/bin/sh\n[ \"$1\" = -V ] && echo 'Python 3.10.12' && exit 0\nexit 1\n")
    old.chmod(0o755)
    result = subprocess.run(
        [str(ROOT / "labs"), "lab2"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(old)},
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "setup: Python 3.10.12 is too old: the tasks need Python 3.11 or newer; "
        "set PYTHON=/path/to/python3.11"
    ]


def test_the_front_door_names_a_missing_python(tmp_path):
    result = subprocess.run(
        [str(ROOT / "labs"), "lab2"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(tmp_path / "nope")},
        check=False,
    )
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "install Python 3.11 or newer" in result.stderr


def test_the_declared_python_floor_is_what_ci_runs():
    """pyproject.toml declares 3.11, and CI (like the images) runs exactly that."""
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle)["project"]
    assert project["requires-python"] == ">=3.11"
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    if in_ci():
        assert sys.version_info[:2] == (3, 11)
