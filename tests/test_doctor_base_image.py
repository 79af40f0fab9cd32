"""inv doctor reports the base image the builds would choose: one decision
(labctl/base_image.choose), acted on by the builds and only reported by the doctor."""

from __future__ import annotations

import pytest
from invoke import MockContext, Result

from labctl import base_image, doctor, provision
from labctl.settings import Settings


def _engine(settings: Settings, *, official: bool, pulls: bool, local: bool) -> MockContext:
    return MockContext(
        run={
            "docker image inspect python:3.11-slim": Result(exited=0 if official else 1),
            "docker pull --quiet python:3.11-slim": Result(
                exited=0 if pulls else 1, stderr="" if pulls else "no such host\n"
            ),
            f"docker image inspect {settings.local_python_image}": Result(exited=0 if local else 1),
        },
        repeat=True,
    )


@pytest.mark.parametrize(
    ("official", "pulls", "local", "how", "reported"),
    [
        (True, False, False, "present", "python:3.11-slim (present)"),
        (False, True, False, "pulled", "python:3.11-slim (pulled)"),
        (False, False, True, "local", "local base mlops-docker-labs/python:3.11-bookworm is used"),
    ],
)
def test_the_doctor_reports_the_choice_the_builds_make(official, pulls, local, how, reported):
    settings = Settings.from_env({})
    c = _engine(settings, official=official, pulls=pulls, local=local)
    assert base_image.choose(c, settings).how == how
    check = doctor._base_image(c, settings, engine_ok=True)
    assert check.ok and reported in check.found
    expected = settings.local_python_image if how == "local" else "python:3.11-slim"
    assert base_image.resolve(c, settings) == expected


def test_no_base_and_no_way_to_build_one_is_a_failure_with_a_fix(monkeypatch):
    settings = Settings.from_env({})
    c = _engine(settings, official=False, pulls=False, local=False)
    monkeypatch.setattr(provision, "is_root", lambda: False)
    choice = base_image.choose(c, settings)
    assert (choice.how, choice.reason) == ("missing", "no such host")
    check = doctor._base_image(c, settings, engine_ok=True)
    assert not check.ok and "no such host" in check.found and "base-image" in check.fix


def test_python_image_set_by_you_asks_the_engine_nothing():
    settings = Settings.from_env({"PYTHON_IMAGE": "my/python:3.11"})
    check = doctor._base_image(MockContext(), settings, engine_ok=False)
    assert check.ok and check.found == "PYTHON_IMAGE=my/python:3.11 (set by you)"
