"""Lab 2 as a Docker Swarm stack, built from the same Compose files as Lab 2."""

from __future__ import annotations

import json
import platform
import tempfile
from dataclasses import replace
from pathlib import Path

from invoke import Context, Exit

from labctl import docker
from labctl.settings import Settings

FILES = (docker.COMPOSE_FILE, "compose/swarm.yaml")
# Compose keys Swarm has no use for: images are built beforehand, ordering and restarts
# are the orchestrator's (deploy.restart_policy), names are the stack's.
NOT_FOR_SWARM = ("build", "depends_on", "restart", "container_name")


def kernel_has_ipvs() -> bool:
    """Whether this machine's kernel can do IPVS, which Swarm's VIPs and routing mesh need."""
    if Path("/proc/net/ip_vs").exists():
        return True
    release = platform.release()
    modules = Path("/lib/modules") / release
    if any(modules.glob("kernel/net/netfilter/ipvs/ip_vs.ko*")):
        return True
    builtin = modules / "modules.builtin"
    return builtin.is_file() and "ip_vs.ko" in builtin.read_text()


def definition(c: Context, settings: Settings, mesh: bool = True) -> dict:
    """`docker compose config` of compose.yaml + compose/swarm.yaml, made fit for Swarm.

    Without the routing mesh (kernels without IPVS), services are found by DNS round
    robin (endpoint_mode dnsrr) and the proxy publishes its port on the node itself.
    """
    result = docker.compose(
        c, settings, ["config", "--format", "json"], files=FILES, hide=True, echo=False
    )
    document = json.loads(result.stdout)
    stack = {key: document[key] for key in ("services", "networks", "volumes", "configs")}
    for service in stack["services"].values():
        deploy = service.setdefault("deploy", {})
        if service.get("restart") == "no" and "mode" not in deploy:
            # Compose's run-once service (restart: "no") is a job on Swarm, which never
            # restarts a task that finished; compose/swarm.yaml may say otherwise.
            deploy["mode"] = "replicated-job"
            deploy.setdefault("restart_policy", {"condition": "none"})
        for key in NOT_FOR_SWARM:
            service.pop(key, None)
        for key in [key for key, value in service.items() if value is None]:
            del service[key]  # `command: null` and the like: the stack loader refuses them
        for resources in service.get("deploy", {}).get("resources", {}).values():
            if "cpus" in resources:  # the stack loader wants "1.5", Compose writes 1.5
                resources["cpus"] = str(resources["cpus"])
        for volume in service.get("volumes", []):
            if "size" in volume.get("tmpfs", {}):  # "16777216" -> 16777216
                volume["tmpfs"]["size"] = int(volume["tmpfs"]["size"])
        for port in service.get("ports", []):
            # The routing mesh publishes on every address of every node.
            port.pop("host_ip", None)
            port["published"] = int(port["published"])
            if not mesh:
                port["mode"] = "host"
        if not mesh and service.get("deploy", {}).get("mode") != "replicated-job":
            service["deploy"]["endpoint_mode"] = "dnsrr"
    return stack


def swarm_state(c: Context) -> str:
    return docker.output(c, "info", "--format", "{{.Swarm.LocalNodeState}}")


def ensure_swarm(c: Context, init: bool) -> bool:
    """Make sure this engine is a Swarm manager; return whether we initialised it."""
    state = swarm_state(c)
    if state == "active":
        return False
    if not init:
        raise Exit(
            "this engine is not in a Swarm: 'inv swarm-up --init' makes it a single-node "
            "Swarm ('docker swarm leave --force' undoes it)",
            code=1,
        )
    result = docker.docker(c, "swarm", "init", "--advertise-addr", "127.0.0.1", warn=True)
    if not result.ok:
        raise Exit(f"docker swarm init failed: {result.stderr.strip()}", code=1)
    print("initialised a single-node Swarm on this engine")
    return True


def leave(c: Context) -> None:
    docker.docker(c, "swarm", "leave", "--force", warn=True)


def deploy(c: Context, settings: Settings, stack: str, mesh: bool) -> None:
    """docker stack deploy the stack definition (waits for nothing; see wait_converged)."""
    document = definition(c, settings, mesh)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(document, handle)
        path = handle.name
    try:
        deploy_args = ["stack", "deploy", "--prune", "--resolve-image", "never", "-c", path, stack]
        result = docker.docker(
            c, *deploy_args, echo=True, hide=False, warn=True, env={"DOCKER_CLI_HINTS": "false"}
        )
    finally:
        Path(path).unlink(missing_ok=True)
    if not result.ok:
        raise Exit(f"docker stack deploy failed: {result.stderr.strip()}", code=1)


def services(c: Context, stack: str) -> dict[str, str]:
    """Service name -> replicas column ('2/2', '0/1 (1/1 completed)', ...)."""
    out = docker.output(c, "stack", "services", stack, "--format", "{{.Name}} {{.Replicas}}")
    return {line.split()[0]: line.split(" ", 1)[1] for line in out.splitlines() if line.strip()}


def wait_converged(c: Context, stack: str, url: str, timeout_s: float) -> dict[str, str]:
    """Until training completed, serving is 2/2, proxy 1/1, and the stack answers ready."""
    from labctl.stack import get_json

    state: dict[str, str] = {}

    def converged() -> bool:
        state.clear()
        state.update(services(c, stack))
        if "failed" in state.get(f"{stack}_training", ""):
            raise Exit(f"the training job failed: see 'docker service ps {stack}_training'", code=1)
        serving_ok = state.get(f"{stack}_serving", "").startswith("2/2")
        proxy_ok = state.get(f"{stack}_proxy", "").startswith("1/1")
        ready = get_json(f"{url}/readyz", timeout_s=2)
        return serving_ok and proxy_ok and bool(ready) and ready.get("status") == "ready"

    if not docker.wait_for(converged, timeout_s, interval_s=1):
        raise Exit(f"the stack did not converge within {timeout_s:.0f} s: {state}", code=1)
    return state


def remove(c: Context, stack: str, timeout_s: float = 60) -> None:
    """docker stack rm, then make sure its containers, networks and volumes are gone."""
    docker.docker(c, "stack", "rm", stack, warn=True)
    label = f"label=com.docker.stack.namespace={stack}"
    docker.wait_for(lambda: not docker.output(c, "ps", "-q", "--filter", label), timeout_s)
    # Swarm reaps the containers of finished tasks (the training job's) lazily: the
    # services are gone, so removing what is left is safe.
    docker.remove_containers(c, *docker.output(c, "ps", "-aq", "--filter", label).split())
    docker.wait_for(
        lambda: not docker.output(c, "network", "ls", "-q", "--filter", label), timeout_s
    )
    # The stack's volumes: the registry, the signing key and the trusted keys.
    volumes = docker.output(c, "volume", "ls", "-q", "--filter", label).split()
    if volumes:
        docker.docker(c, "volume", "rm", *volumes, warn=True)


def settings_for(settings: Settings, stack: str) -> Settings:
    """The settings with the stack's name as the Compose project (for `compose config`)."""
    return replace(settings, compose_project=stack)
