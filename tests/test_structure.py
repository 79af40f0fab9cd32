"""The tooling's structure holds: one engine module, one service list, configuration
through invoke, nothing run at import."""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from invoke import Config, Context

import tasks
from labctl.settings import ROOT
from tests import compose_file
from tests.compose_file import service_names

TOOLING = [*sorted((ROOT / "labctl").rglob("*.py")), ROOT / "tasks.py"]
# Everything with Python in it: the tooling, the product and the tests.
PYTHON_FILES = sorted(
    {*TOOLING, *ROOT.glob("*.py"), *(ROOT / "tests").rglob("*.py")}
    | {
        p
        for folder in ("app", "training", "model_registry", "envvars")
        for p in (ROOT / folder).rglob("*.py")
    }
)
# How a docker or compose command line shows in code: a string handed to a runner
# (c.run("docker ..."), subprocess), an argv (["docker", ...]), the Compose program.
DOCKER_COMMAND = re.compile(
    r"""(\.(run|Popen|check_output)\(\s*f?["']docker\s|["']docker["']\s*,|\bcompose_program\(\))"""
)


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_engine_module_builds_docker_command_lines(path):
    if path in (ROOT / "labctl" / "docker.py", ROOT / "tests" / "test_structure.py"):
        return  # the engine itself, and this file's pattern
    lines = [
        f"{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if DOCKER_COMMAND.search(line) and not line.lstrip().startswith("#")
    ]
    assert lines == [], f"{path.name} runs docker itself: use labctl/docker.py"


def test_no_formatting_is_switched_off():
    files = PYTHON_FILES
    marker = "fmt" + ": skip"  # spelled apart, or this file would find itself
    skipped = [str(p.relative_to(ROOT)) for p in files if marker in p.read_text()]
    assert skipped == []


def test_importing_the_tasks_runs_nothing():
    """No subprocess (git, docker) and no change to PATH when tasks.py is imported."""
    probe = (
        "import os, subprocess, sys\n"
        "def refuse(*a, **k): raise SystemExit('a subprocess ran at import: %r' % (a,))\n"
        "subprocess.run = subprocess.Popen = subprocess.check_output = refuse\n"
        "path = os.environ.get('PATH')\n"
        "import tasks\n"
        "assert os.environ.get('PATH') == path, 'PATH changed at import'\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_settings_come_from_invoke_then_the_environment(monkeypatch):
    monkeypatch.delenv("LAB2_PORT", raising=False)
    monkeypatch.delenv("LABS_IMAGE_PREFIX", raising=False)
    defaults = Context(config=Config(overrides={"labs": dict(tasks.ns.configuration()["labs"])}))
    assert tasks.settings_of(defaults).lab2_port == 80
    overrides = {"labs": {**tasks.ns.configuration()["labs"], "lab2_port": 8081}}
    configured = Context(config=Config(overrides=overrides))
    assert tasks.settings_of(configured).lab2_port == 8081
    monkeypatch.setenv("LAB2_PORT", "8083")  # the documented variable wins
    assert tasks.settings_of(configured).lab2_port == 8083
    assert tasks.settings_of(configured, port=9000).lab2_port == 9000  # and --port over all


def test_invoke_yaml_and_invoke_variables_reach_the_tasks(tmp_path):
    runtime = tmp_path / "labs.yaml"
    runtime.write_text("labs:\n  image_prefix: from-yaml\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABS_", "LAB2_"))}
    run = [sys.executable, "-m", "invoke", "-f", str(runtime), "config"]
    shown = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert re.search(r"^image_prefix\s+from-yaml\s", shown.stdout, re.M), shown.stdout
    env["INVOKE_LABS_IMAGE_PREFIX"] = "from-invoke-env"
    run = [sys.executable, "-m", "invoke", "config"]
    shown = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert re.search(r"^image_prefix\s+from-invoke-env\s", shown.stdout, re.M), shown.stdout


@pytest.fixture(scope="module")
def services() -> list[str]:
    return compose_file.services()


def test_the_service_list_is_read_from_compose(services):
    """Compose's own list is the one the tasks use: the file's services, each once, the
    labs' three among them (a fourth needs no edit here)."""
    assert sorted(services) == sorted(service_names()) and len(set(services)) == len(services)
    assert {"training", "serving", "proxy"} <= set(services)
    assert services.index("training") < services.index("serving") < services.index("proxy")


def test_every_service_has_a_kubernetes_workload_and_nothing_else_does(services):
    workloads = set()
    for path in (ROOT / "deploy" / "kubernetes").glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] in ("Job", "Deployment", "StatefulSet"):
                workloads.add(document["metadata"]["name"])
    assert workloads == set(services)


def _build_sources(compose: dict, service: str) -> list[str]:
    """The paths a service's Dockerfile takes from the build context (COPY and bind
    mounts of the context, not of other stages)."""
    build = compose["services"][service]["build"]
    text = (ROOT / build["context"] / build["dockerfile"]).read_text()
    sources = re.findall(r"--mount=type=bind,source=([^,\s\\]+)", text)
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M):
        parts = [p for p in line.split() if not p.startswith("--")]
        sources += parts[:-1]
    return sources


def _allowed(source: str, patterns: list[str]) -> bool:
    """Whether the allow-list .dockerignore lets source (a file, or a folder: some of
    its files) into the build context: a `!` pattern names it or something inside it."""
    source = source.rstrip("/")
    return any(
        fnmatch.fnmatch(source, pattern[1:].rstrip("/")) or pattern[1:].startswith(source + "/")
        for pattern in patterns
        if pattern.startswith("!")
    )


def test_dockerignore_lets_in_what_every_service_copies(services):
    compose = compose_file.config()
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for service in services:
        sources = _build_sources(compose, service)
        assert sources, service
        refused = [source for source in sources if not _allowed(source, patterns)]
        assert refused == [], f"{service} copies {refused}, which .dockerignore keeps out"


def _imported_packages(package: str) -> set[str]:
    """The project's own packages the code of package imports, at the top of a module or
    inside a function (itself included)."""
    local = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    found = {package}
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names} & local
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found |= {node.module.split(".")[0]} & local
    return found


@pytest.mark.parametrize(("service", "package"), [("serving", "app"), ("training", "training")])
def test_each_image_copies_every_package_its_code_imports(service, package):
    """Both images copy the folders they share (envvars/, model_registry/); neither
    copies the other's code, nor the host's."""
    needed, seen = {package}, set()
    while unseen := needed - seen:
        name = unseen.pop()
        seen.add(name)
        needed |= _imported_packages(name)
    copied = {source.rstrip("/") for source in _build_sources(compose_file.config(), service)}
    assert needed == {package, "envvars", "model_registry"}
    assert needed <= copied, f"the {service} image lacks {needed - copied}"


def test_the_tests_see_compose_yaml_as_shipped_whatever_a_dotenv_says(tmp_path):
    """Compose reads a `.env` beside the Compose file by itself: compose_file hands it an
    empty one instead, so a developer's own `.env` cannot change what the tests see."""
    copy = tmp_path / "compose.yaml"
    shutil.copyfile(compose_file.COMPOSE_FILE, copy)
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "LAB2_PORT=1234\nMODEL_TYPE=knn\nPYTHON_IMAGE=from/dotenv\nCOMPOSE_PROFILES=observe\n"
    )

    def seen(compose: dict) -> tuple:
        services = compose["services"]
        (published,) = services["proxy"]["ports"]
        return (
            published["published"],
            services["training"]["environment"]["MODEL_TYPE"],
            services["serving"]["build"]["args"]["PYTHON_IMAGE"],
            "prometheus" in services,
        )

    shipped = ("80", "logreg", "python:3.11-slim", False)
    assert seen(compose_file.config(copy)) == shipped  # the .env beside it is not read
    assert seen(compose_file.config()) == shipped
    # Read, it would have changed them: all but LAB2_PORT, which the tasks hand Compose
    # themselves (the environment wins over a .env, in Compose as in the tasks).
    assert seen(compose_file.config(copy, env_file=dotenv)) == ("80", "knn", "from/dotenv", True)
