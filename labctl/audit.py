"""`inv audit`: the hardening claims of Lab 2, read back from the running stack.

Each row compares what the Compose files (or the labs' design) promise with what
the engine and the containers themselves report: `docker inspect`, and commands
run inside the running containers (`docker exec`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from invoke import Context, Exit

from labctl import docker, stack
from labctl.settings import Settings

PROBE = Path(__file__).parent / "probes" / "image_contents.py"
REACHABILITY = Path(__file__).parent / "probes" / "reachability.py"
UID = "10001"


@dataclass(frozen=True)
class Row:
    check: str
    expected: str
    found: str

    @property
    def ok(self) -> bool:
        return self.expected == self.found


def _inspect(c: Context, container: str) -> dict:
    return docker.inspect_json(c, container) or {}


def _exec(c: Context, container: str, command: str) -> tuple[int, str]:
    result = docker.exec_in(c, container, "sh", "-c", command)
    return result.exited, (result.stdout + result.stderr).strip()


def _configured(c: Context, settings: Settings, profiles: list[str] | tuple = ()) -> dict:
    result = stack.compose(
        c, settings, ["config", "--format", "json"], profiles=profiles, hide=True, echo=False
    )
    return json.loads(result.stdout)["services"]


def _memory_bytes(text: str) -> int:
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    text = str(text).lower().rstrip("b")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def _status_field(c: Context, container: str, field: str) -> str:
    _, out = _exec(c, container, f"grep '^{field}:' /proc/1/status")
    return out.split(":", 1)[1].strip() if ":" in out else out


def container_rows(c: Context, settings: Settings, service: str, spec: dict) -> list[Row]:
    container = stack.container_id(c, settings, service, all_states=True)
    if not container:
        return [Row(f"{service}: container exists", "yes", "no")]
    info = _inspect(c, container)
    host = info["HostConfig"]
    limits = spec.get("deploy", {}).get("resources", {}).get("limits", {})
    rows = [
        Row(f"{service}: user", f"{UID}:{UID}", info["Config"]["User"]),
        Row(f"{service}: read-only root filesystem", "True", str(host["ReadonlyRootfs"])),
        Row(f"{service}: capabilities dropped", "['ALL']", str(host["CapDrop"])),
        Row(
            f"{service}: no-new-privileges",
            "True",
            str("no-new-privileges:true" in (host["SecurityOpt"] or [])),
        ),
        # Every service must declare its limits in compose.yaml: a missing one fails.
        Row(
            f"{service}: CPU limit",
            str(float(limits["cpus"])) if "cpus" in limits else "declared",
            str(host["NanoCpus"] / 1e9),
        ),
        Row(
            f"{service}: memory limit",
            str(_memory_bytes(limits["memory"])) if "memory" in limits else "declared",
            str(host["Memory"]),
        ),
        Row(
            f"{service}: pids limit",
            str(limits["pids"]) if "pids" in limits else "declared",
            str(host["PidsLimit"]),
        ),
    ]
    # A running container (Lab 2's servers; training has exited) is also probed inside.
    if info["State"]["Running"]:
        uid = " ".join(_status_field(c, container, "Uid").split()[:2])
        capabilities = _status_field(c, container, "CapEff")
        no_new_privileges = _status_field(c, container, "NoNewPrivs")
        wrote = _exec(c, container, "touch /audit-probe")[0] == 0
        rows += [
            Row(f"{service}: process runs as", f"{UID} {UID}", uid),
            Row(f"{service}: effective capabilities", "0000000000000000", capabilities),
            Row(f"{service}: NoNewPrivs flag", "1", no_new_privileges),
            Row(f"{service}: writing to /", "refused", "WRITTEN" if wrote else "refused"),
        ]
    if service == "serving" and info["State"]["Running"]:
        written = _exec(c, container, "touch /registry/audit-probe")[0] == 0
        found = "WRITTEN" if written else "refused"
        rows.append(Row("serving: writing to the registry", "refused", found))
    return rows


def network_rows(c: Context, settings: Settings, services: list[str]) -> list[Row]:
    project = settings.compose_project
    rows = []
    networks = [("training", "true"), ("backend", "true"), ("frontend", "false")]
    if stack.PROMETHEUS_SERVICE in services:  # its own bridge, for its published port
        networks.append(("observe", "false"))
    for network, internal in networks:
        found = docker.inspect(c, f"{project}_{network}", "{{.Internal}}")
        rows.append(Row(f"network {network}: internal", internal, found or "missing"))
    for service in services:
        container = stack.container_id(c, settings, service, all_states=True)
        bindings = _inspect(c, container)["HostConfig"]["PortBindings"] if container else {}
        published = sorted(
            f"{b['HostIp'] or '0.0.0.0'}:{b['HostPort']}"  # noqa: S104 - reports, never binds
            for ports in (bindings or {}).values()
            for b in ports
        )
        expected = [f"127.0.0.1:{settings.lab2_port}"] if service == stack.PUBLIC_SERVICE else []
        if service == stack.PUBLIC_SERVICE and settings.lab2_host != "127.0.0.1":
            expected = [f"{settings.lab2_host}:{settings.lab2_port}"]
        if service == stack.PROMETHEUS_SERVICE:  # no authentication: this machine only
            expected = [f"127.0.0.1:{settings.prometheus_port}"]
        rows.append(Row(f"{service}: published ports", str(expected), str(published)))
    return rows


def run_probe(
    c: Context, image: str, probe: Path, network: str, args: list[str], user: str = UID
) -> dict | None:
    """Run a probe script of labctl/probes in a throw-away container; its JSON, or None."""
    options = ["--network", network, "--cap-drop", "ALL", "--user", f"{user}:{user}"]
    options += ["--entrypoint", "python"]
    result = docker.run_image(c, image, "-c", probe.read_text(), *args, options=options)
    try:
        return json.loads(result.stdout)
    except ValueError:
        return None


def _ip(c: Context, container: str, network: str) -> str:
    info = _inspect(c, container)["NetworkSettings"]["Networks"]
    return info.get(network, {}).get("IPAddress", "")


def reachability_rows(c: Context, settings: Settings) -> list[Row]:
    """From the training network and from Docker's default bridge, nothing answers.

    A control run from the frontend network must reach the proxy: it proves the probe
    can see an open port, so "blocked" means blocked.
    """
    project = settings.compose_project
    serving = stack.container_id(c, settings, "serving")
    proxy = stack.container_id(c, settings, stack.PUBLIC_SERVICE)
    targets = [
        f"{_ip(c, serving, f'{project}_backend')}:8080",
        f"{_ip(c, proxy, f'{project}_frontend')}:8080",
    ]
    image = settings.image("training")
    rows = []
    runs = (
        ("training network", f"{project}_training", ("blocked", "blocked")),
        ("default bridge", "bridge", ("blocked", "blocked")),
        ("frontend network (control)", f"{project}_frontend", ("blocked", "open")),
    )
    for label, network, expected in runs:
        found = run_probe(c, image, REACHABILITY, network, targets)
        if found is None:
            rows.append(Row(f"from the {label}: probe", "ran", "failed"))
            continue
        for (what, target), want in zip(
            (("serving", targets[0]), ("proxy", targets[1])), expected, strict=True
        ):
            outcome = found["targets"].get(target, "not tried")
            rows.append(Row(f"from the {label}: connect to {what}", want, outcome))
    # And positively: the proxy itself reaches serving, by name, on the backend network.
    _, reached = _exec(
        c,
        proxy,
        "python -c \"import socket; socket.create_connection(('serving', 8080), 2).close(); "
        "print('open')\"",
    )
    rows.append(Row("from the proxy: connect to serving", "open", reached.splitlines()[-1]))
    return rows


def image_rows(c: Context, settings: Settings, services: list[str]) -> list[Row]:
    rows = []
    for service in services:
        image = settings.image(service)
        # As root: it must see what appuser cannot (/root/.cache is mode 0700).
        found = run_probe(c, image, PROBE, "none", [], user="0")
        if found is None:
            rows.append(Row(f"{service} image: contents", "scanned", "probe failed"))
            continue
        for finding, paths in found.items():
            label = finding.replace("_", " ")
            rows.append(Row(f"{service} image: {label}", "none", ", ".join(paths[:3]) or "none"))
        history = docker.history(c, image, "{{.CreatedBy}}")
        leaked = [
            word for word in ("PIP_CERT=/", "BEGIN CERTIFICATE", "PRIVATE KEY") if word in history
        ]
        rows.append(
            Row(f"{service} image: secrets in history", "none", ", ".join(leaked) or "none")
        )
    return rows


# Run inside the serving container: is the version LATEST names signed by a key serving
# trusts? (The same check serving makes before it uses any byte of a version.)
_SIGNED = """
from pathlib import Path
from model_registry import RegistryError, load_trusted_keys, read_latest, verify_version
registry, name = Path("/registry"), "iris-classifier"
try:
    latest = read_latest(registry, name)
    verify_version(registry, name, latest, load_trusted_keys(Path("/trusted-keys")))
    print("yes")
except (RegistryError, OSError) as exc:
    print(f"no: {exc}")
"""


def model_rows(c: Context, settings: Settings, services: list[str]) -> list[Row]:
    """The model serving runs is signed, nothing in serving can unpickle, only training
    holds the private key, and the metrics are not on the public port."""
    serving = stack.container_id(c, settings, "serving")
    signed = docker.exec_in(c, serving, "python", "-c", _SIGNED).stdout.strip()
    unpickle = _exec(
        c, serving, "python -c 'import joblib' 2>/dev/null || python -c 'import sklearn'"
    )
    rows = [
        Row("serving: LATEST is signed by a trusted key", "yes", signed),
        Row(
            "serving: can import joblib or scikit-learn", "no", "yes" if unpickle[0] == 0 else "no"
        ),
    ]
    for service in services:
        container = stack.container_id(c, settings, service, all_states=True)
        mounts = _inspect(c, container)["Mounts"] if container else []
        holds = any(m.get("Name", "").endswith("_signing-key") for m in mounts)
        want = "yes" if service == "training" else "no"
        rows.append(
            Row(f"{service}: mounts the private signing key", want, "yes" if holds else "no")
        )
    status = stack.get_status(f"{stack.url(settings)}/metrics")
    rows.append(Row("proxy: /metrics on the public port", "404", str(status)))
    return rows


def run(c: Context, settings: Settings) -> list[Row]:
    """Every audit row of Lab 2, in a fixed order: containers, networks, model, images."""
    if not stack.container_id(c, settings, "serving"):
        raise Exit("Lab 2 is not running: start it with 'inv lab2', then 'inv audit'", code=1)
    # With `inv lab2 --observe`, Prometheus is audited like every other service.
    observing = bool(stack.container_id(c, settings, stack.PROMETHEUS_SERVICE))
    configured = _configured(c, settings, [docker.OBSERVE_PROFILE] if observing else [])
    services = list(configured)
    rows = []
    for service in services:
        rows += container_rows(c, settings, service, configured[service])
    rows += network_rows(c, settings, services) + reachability_rows(c, settings)
    return rows + model_rows(c, settings, services) + image_rows(c, settings, services)


def run_lab1(c: Context, settings: Settings) -> list[Row]:
    """Every audit row of Lab 1: its training container as `inv lab1` makes it (created,
    not run, from the same definition), its network and its image."""
    lab = stack.lab1_settings(settings)
    configured = _configured(c, lab)
    stack.compose(c, lab, ["create", "--no-build", "training"], hide=True, echo=False)
    try:
        rows = container_rows(c, lab, "training", configured["training"])
        found = docker.inspect(c, f"{lab.compose_project}_training", "{{.Internal}}")
        rows.append(Row("network training: internal", "true", found or "missing"))
        return rows + image_rows(c, lab, ["training"])
    finally:
        stack.compose(c, lab, ["down", "--volumes"], hide=True, echo=False, warn=True)
