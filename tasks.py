"""The labs' menu: `inv --list` shows every task, `inv --help TASK` its options.

Each task builds its Settings from invoke's configuration (labctl.settings.DEFAULTS,
then `invoke.yaml` and INVOKE_LABS_*, then the documented environment variables) when
it runs: importing this file runs nothing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

from invoke import Collection, Context, Exit, task

from labctl import audit as audit_checks
from labctl import base_image, docker, locks, provision, stack, table
from labctl import smoke as smoke_checks
from labctl.doctor import report as doctor_report
from labctl.doctor import run_checks
from labctl.settings import DEFAULTS, ENVIRONMENT, ROOT, Settings, venv_tool

PORT = DEFAULTS["lab2_port"]


def settings_of(c: Context, port: int = 0) -> Settings:
    """The settings of this run of a task; port, when given, overrides Lab 2's port."""
    settings = Settings.from_config(c.config.get("labs"))
    return replace(settings, lab2_port=port) if port else settings


def _dockerfiles() -> list[Path]:
    """Every Dockerfile of the project (docker/ and benchmarks/)."""
    found = sorted(ROOT.glob("docker/*Dockerfile")) + sorted(ROOT.glob("benchmarks/**/*Dockerfile"))
    return [path for path in found if ".venv" not in path.parts]


@task(
    help={
        "no_cache": "rebuild every layer, ignoring the build cache (default: off)",
        "pull": "pull the newest base image before building (default: off)",
        "service": "build only this service's image (default: every service of compose.yaml)",
        "observe": "also the observe profile's images: Prometheus (default: off)",
    }
)
def build(
    c: Context, no_cache: bool = False, pull: bool = False, service: str = "", observe: bool = False
) -> str:
    """Build every image with BuildKit (multi-stage, uv cache mounts, hash-locked deps)."""
    settings = settings_of(c)
    docker.require_engine(c)
    # Any service of compose.yaml can be built by name; all of them are built by default
    # but those of the observe profile, which come with --observe.
    known = docker.services(c, settings, profiles=[docker.OBSERVE_PROFILE])
    if service and service not in known:
        raise Exit(f"unknown service {service!r}: choose from {', '.join(known)}", code=2)
    services = known if observe else docker.services(c, settings)
    python_image = base_image.resolve(c, settings, pull=pull)
    # --progress is a global Compose flag: before the command, or Compose warns about it.
    args = ["--progress", "plain" if os.environ.get("CI") else "auto", "build"]
    if no_cache:
        args.append("--no-cache")
    if pull and python_image == settings.official_python_image:
        args.append("--pull")
    if settings.ca_bundle:
        print(f"build: the installers trust {settings.ca_bundle} (a build secret, in no layer)")
    # One image at a time, so each one's time can be told (measured: no slower than
    # building them side by side on 2 cores).
    for name in [service] if service else services:
        started = time.monotonic()
        result = docker.compose(c, settings, [*args, name], python_image=python_image, warn=True)
        if not result.ok:
            raise Exit(f"building the {name} image failed (see the BuildKit output above)", code=1)
        print(f"build: {settings.image(name)} in {time.monotonic() - started:.1f} s")
    return python_image


@task(
    help={
        "tests": "also what the test suite needs: chromium and wrk (default: off)",
    }
)
def setup(c: Context, tests: bool = False) -> None:
    """Install what this machine lacks for the labs (Debian/Ubuntu as root), else say how."""
    provision.ensure_engine(c)
    provision.ensure_compose_plugin(c)
    if tests:
        provision.ensure(c, provision.TEST_TOOLS)


@task(
    help={
        "force": "rebuild it even when it exists (default: off)",
    }
)
def base_image_(c: Context, force: bool = False) -> None:
    """Build the local Python 3.11 base from Debian packages (for machines that cannot pull)."""
    docker.require_engine(c)
    base_image.build_local(c, settings_of(c), force=force)


@task(
    help={
        "registry": "host folder to publish the model into, e.g. ./registry (its keys go "
        "to ./registry-keys; default: none, nothing is kept)",
        "model": "logreg or knn (default: logreg)",
        "seed": "seed of the split and the estimator (default: 42)",
        "build": "build the image first (default: on; --no-build to skip)",
    }
)
def lab1(c: Context, registry: str = "", model: str = "logreg", seed: int = 42, build_=True):
    """Lab 1: run the training service once, on Lab 2's hardened definition; print its report."""
    settings = settings_of(c)
    if build_:
        build(c, service="training")
    else:
        docker.require_engine(c)
    code = stack.run_lab1(c, settings, registry, ["--model", model, "--seed", str(seed)])
    if code != 0:
        raise Exit(f"training failed (exit code {code})", code=code)
    if registry:
        print(f"model published under {Path(registry).resolve()}")


@task
def lint(c: Context) -> None:
    """Lint every Dockerfile with hadolint (any warning fails) and the Python code with ruff."""
    dockerfiles = [str(path) for path in _dockerfiles()]
    failed = []
    with c.cd(str(ROOT)):
        for name, command in (
            ("hadolint", [venv_tool("hadolint"), "--config", ".hadolint.yaml", *dockerfiles]),
            ("ruff check", [venv_tool("ruff"), "check", "."]),
            ("ruff format", [venv_tool("ruff"), "format", "--check", "--quiet", "."]),
        ):
            if not c.run(shlex.join(command), echo=True, warn=True, pty=False).ok:
                failed.append(name)
    if failed:
        raise Exit(f"lint failed: {', '.join(failed)}", code=1)
    print(f"lint clean: {len(dockerfiles)} Dockerfiles, Python code")


@task(
    help={
        "upgrade": "take the newest releases pyproject.toml allows (default: keep the pins)",
    }
)
def lock(c: Context, upgrade: bool = False) -> None:
    """Regenerate the hash-locked requirements of every image from pyproject.toml."""
    pyproject = ROOT / "pyproject.toml"
    with c.cd(str(ROOT)):
        for extra, path in locks.LOCKS.items():
            c.run(locks.compile_command(pyproject, extra, Path(path), upgrade=upgrade), echo=True)
            locks.stamp(ROOT / path, locks.input_digest(pyproject, extra), extra)
    print("locks written: " + ", ".join(locks.LOCKS.values()))


@task(
    help={
        "unit": "only the fast tests that need no Docker (default: all)",
        "k": "only tests matching this pytest -k expression (default: all)",
        "verbose": "list every test (default: off)",
    }
)
def test(c: Context, unit: bool = False, k: str = "", verbose: bool = False) -> None:
    """Run the test suite: unit tests, then the Docker tests (images, labs, browser)."""
    args = [sys.executable, "-m", "pytest"]
    if unit:
        args += ["-m", "not docker"]
    if k:
        args += ["-k", k]
    if verbose:
        args.append("-v")
    with c.cd(str(ROOT)):
        result = c.run(shlex.join(args), echo=True, warn=True, pty=False)
    if not result.ok:
        raise Exit(code=result.exited)


@task(
    help={
        "paths": "only these files, comma-separated (default: model_registry/ and "
        "app/validation.py)",
    }
)
def mutate(c: Context, paths: str = "") -> None:
    """Mutation-test the core with the unit tests: score, and every surviving mutant."""
    from labctl import mutate as mutation

    code = mutation.run(c, ROOT, [p for p in paths.split(",") if p] or None)
    if code:
        raise Exit(code=code)


@task(
    help={
        "port": f"host port of the page and API (default: {PORT}, env LAB2_PORT)",
        "build": "build the images first (default: on; --no-build to skip)",
        "timeout": "seconds to wait for the server to be healthy (default: 120)",
        "observe": "also Prometheus, scraping serving, on 127.0.0.1 only (default: off; its "
        f"port: {DEFAULTS['prometheus_port']}, env PROMETHEUS_PORT)",
    }
)
def lab2(
    c: Context, port: int = 0, build_: bool = True, timeout: int = 120, observe: bool = False
) -> None:
    """Lab 2: train once, publish to the registry volume, serve the API and page."""
    settings = settings_of(c, port)
    started = time.monotonic()
    python_image = build(c, observe=observe) if build_ else None
    if not build_:
        docker.require_engine(c)
    built = time.monotonic()
    stack.up(c, settings, python_image=python_image, observe=observe)
    stack.wait_healthy(c, settings, timeout, observe=observe)
    version = stack.served_version(settings)
    done = time.monotonic()
    print(
        f"Lab 2 is up: {stack.url(settings)}  (model {version}; 'inv smoke' checks it)\n"
        f"lab2: {done - started:.0f} s in all: build {built - started:.0f} s, "
        f"train and start {done - built:.0f} s"
    )
    if observe:
        print(
            f"Prometheus: {stack.prometheus_url(settings)}  "
            f"(alerts: {stack.prometheus_alerts_url(settings)})"
        )


@task(
    help={
        "model": "estimator of the new version: logreg or knn (default: logreg)",
        "port": f"host port of the running stack (default: {PORT}, env LAB2_PORT)",
        "timeout": "seconds to wait for every worker to switch to it (default: 60)",
    }
)
def train(c: Context, model: str = "logreg", port: int = 0, timeout: int = 60) -> None:
    """Publish a new model version; the running server swaps it in without a restart."""
    settings = settings_of(c, port)
    docker.require_engine(c)
    version = stack.run_training(c, settings, model)
    if stack.served_version(settings) is None:
        print(f"published {version}; the server is not running ('inv lab2' starts it)")
    elif stack.wait_for_version(c, settings, version, timeout):
        print(f"published {version}; every worker of {stack.url(settings)} serves it (no restart)")
    else:
        raise Exit(f"published {version}, but the server still serves another version", code=1)


@task(
    help={
        "to": "the version LATEST should point at, e.g. v1 (required)",
        "port": f"host port of the running stack (default: {PORT}, env LAB2_PORT)",
        "timeout": "seconds to wait for every worker to switch to it (default: 60)",
    }
)
def rollback(c: Context, to: str = "", port: int = 0, timeout: int = 60) -> None:
    """Point the registry's LATEST at an earlier version; the server switches to it."""
    if not to:
        raise Exit("say which version: inv rollback --to v1 ('inv models' lists them)", code=2)
    settings = settings_of(c, port)
    docker.require_engine(c)
    if stack.registry_command(c, settings, ["rollback", "--to", to]) != 0:
        raise Exit(f"rollback to {to} failed (see the line above)", code=1)
    if stack.served_version(settings) is None:
        print(f"LATEST is {to}; the server is not running ('inv lab2' starts it)")
    elif stack.wait_for_version(c, settings, to, timeout):
        print(f"every worker of {stack.url(settings)} serves {to} (no restart)")
    else:
        raise Exit(f"LATEST is {to}, but the server still serves another version", code=1)


@task(
    help={
        "rotate": "make a new signing key; the older public keys stay trusted (default: off)",
    }
)
def keys(c: Context, rotate: bool = False) -> None:
    """Show the keys Lab 2's versions are signed with and trusted by, or rotate the key."""
    docker.require_engine(c)
    action = "rotate" if rotate else "show"
    if stack.registry_command(c, settings_of(c), ["keys", action], echo=False) != 0:
        raise Exit(f"'keys {action}' failed (see the line above)", code=1)


@task
def models(c: Context) -> None:
    """List the model versions in Lab 2's registry volume (* marks LATEST)."""
    docker.require_engine(c)
    if stack.registry_command(c, settings_of(c), ["list"], echo=False) != 0:
        raise Exit("could not list the registry (is Lab 2 built? 'inv lab2')", code=1)


@task(
    help={
        "url": "base URL of the stack to check (default: the Lab 2 URL, http://localhost:PORT)",
    }
)
def smoke(c: Context, url: str = "") -> None:
    """Black-box smoke checks of a running stack: one pass/fail line per check."""
    base = url or stack.url(settings_of(c))
    problem = smoke_checks.unreachable(base)
    if problem:
        raise Exit(
            f"nothing answers on {base} ({problem}): run 'inv lab2', or 'inv smoke --url URL'",
            code=1,
        )
    outcomes = smoke_checks.run(base)
    for outcome in outcomes:
        print(f"{'PASS' if outcome.ok else 'FAIL'}  {outcome.name:<34}  {outcome.detail}")
    failed = [outcome.name for outcome in outcomes if not outcome.ok]
    if failed:
        raise Exit(f"{len(failed)} of {len(outcomes)} smoke checks failed against {base}", code=1)
    print(f"all {len(outcomes)} smoke checks passed against {base}")


@task(
    help={
        "port": f"host port of the running stack (default: {PORT}, env LAB2_PORT)",
    }
)
def metrics(c: Context, port: int = 0) -> None:
    """Show serving's Prometheus metrics (not public: read from inside the stack)."""
    docker.require_engine(c)
    print(stack.metrics_text(c, settings_of(c, port)), end="")


@task(
    help={
        "volumes": "also delete the model registry and key volumes (default: keep them)",
    }
)
def down(c: Context, volumes: bool = False) -> None:
    """Stop and remove Lab 2's containers and networks (the volumes stay)."""
    docker.require_engine(c)
    args = ["down", "--remove-orphans", *(["--volumes"] if volumes else [])]
    # With the observe profile, so Prometheus and its network always go too: without it,
    # whether `down` removes a profile's containers depends on the Compose version and on
    # how the project is named (docker/compose#11793, #13647).
    stack.compose(c, settings_of(c), args, profiles=[docker.OBSERVE_PROFILE])


@task
def clean(c: Context) -> None:
    """Free disk: remove this project's dangling images, trim the build cache."""
    docker.require_engine(c)
    docker.prune_leftovers(c, settings_of(c))
    docker.disk_usage(c)


@task(
    help={
        "service": "training or serving (default: both)",
        "follow": "keep following new lines (default: off)",
        "tail": "lines of history per service (default: 200)",
    }
)
def logs(c: Context, service: str = "", follow: bool = False, tail: int = 200) -> None:
    """Show Lab 2's logs (JSON lines from serving, the report from training)."""
    docker.require_engine(c)
    args = ["logs", "--tail", str(tail), *(["--follow"] if follow else [])]
    stack.compose(c, settings_of(c), [*args, *([service] if service else [])], warn=True)


@task(
    help={
        "port": f"host port of the running stack (default: {PORT}, env LAB2_PORT)",
        "lab": "2: the running Lab 2 stack; 1: Lab 1's training container (default: 2)",
    }
)
def audit(c: Context, port: int = 0, lab: int = 2) -> None:
    """Audit a lab's hardening, read back from the engine: check, expected, found, pass/fail."""
    settings = settings_of(c, port)
    docker.require_engine(c)
    if lab not in (1, 2):
        raise Exit("--lab is 1 or 2", code=2)
    rows = audit_checks.run(c, settings) if lab == 2 else audit_checks.run_lab1(c, settings)
    print(
        table.render(
            ("check", "expected", "found", "result"),
            [(r.check, r.expected, r.found, "pass" if r.ok else "FAIL") for r in rows],
        )
    )
    failed = [row for row in rows if not row.ok]
    if failed:
        raise Exit(f"{len(failed)} of {len(rows)} audit checks failed", code=1)
    print(f"all {len(rows)} audit checks passed")


@task(
    help={
        "quick": "short runs, written to build/bench-quick (CI runs this; default: full)",
        "out": "folder of the report (default: benchmarks/results, or build/bench-quick)",
    }
)
def bench(c: Context, quick: bool = False, out: str = "") -> None:
    """Measure sizes, builds and serving side by side; write JSON, Markdown and a chart."""
    from labctl.bench import report as bench_report
    from labctl.bench import runner

    docker.require_engine(c)
    if shutil.which("wrk") is None:
        raise Exit("wrk is not installed: './labs setup --tests' installs it", code=1)
    folder = Path(out) if out else ROOT / ("build/bench-quick" if quick else "benchmarks/results")
    paths = runner.run(c, settings_of(c), folder, quick)
    results = json.loads(paths[0].read_text())
    if not out and not quick:
        bench_report.update_readme(ROOT / "README.md", results)
        print("README.md: latest results updated")
    print("\n".join(bench_report.summary(results)))
    print("report: " + ", ".join(str(path) for path in paths))


@task(
    help={
        "port": f"host port of the running stack (default: {PORT}, env LAB2_PORT)",
        "scale": "multiply every load phase's length (default: 1.0, about 3 minutes in all)",
        "out": "where the picture goes (default: benchmarks/results/prometheus.png)",
    },
)
def observe_graph(c: Context, port: int = 0, scale: float = 1.0, out: str = "") -> None:
    """Load the running stack as the bench does; photograph Prometheus's graph of it."""
    from labctl import observe_graph as graph

    if shutil.which("wrk") is None:
        raise Exit("wrk is not installed: './labs setup --tests' installs it", code=1)
    picture = Path(out) if out else ROOT / "benchmarks/results/prometheus.png"
    for phase in graph.run(c, settings_of(c, port), picture, scale):
        rate, p99 = phase["requests_per_s"], phase["p99_ms"]
        print(f"  {phase['phase']}: {rate:.0f} req/s, p99 {p99:.1f} ms, non-2xx {phase['non_2xx']}")


@task(
    help={
        "init": "make this engine a single-node Swarm when it is not in one (default: off)",
        "port": f"published port on every node (default: {PORT}, env LAB2_PORT)",
        "name": "stack name (default: mlops-swarm)",
        "timeout": "seconds to wait for the stack to converge (default: 180)",
        "mesh": "routing mesh and VIPs: yes, no, or auto = when the kernel has IPVS "
        "(default: auto)",
    }
)
def swarm_up(
    c: Context,
    init: bool = False,
    port: int = 0,
    name: str = "mlops-swarm",
    timeout: int = 180,
    mesh: str = "auto",
) -> None:
    """Deploy Lab 2 as a Swarm stack: a training job, 2 serving replicas, the proxy."""
    from labctl import swarm

    settings = swarm.settings_for(settings_of(c, port), name)
    docker.require_engine(c)
    swarm.ensure_swarm(c, init)
    for service in docker.services(c, settings):
        if not docker.image_exists(c, settings.image(service)):
            raise Exit(f"image {settings.image(service)} is missing: run 'inv build'", code=1)
    use_mesh = {"yes": True, "no": False}.get(mesh)
    if use_mesh is None:
        use_mesh = swarm.kernel_has_ipvs()
        if not use_mesh:
            print(
                "!! this kernel has no IPVS, which the routing mesh needs: replicas are found "
                "by DNS round robin and the proxy publishes its port on this node"
            )
    swarm.deploy(c, settings, name, use_mesh)
    state = swarm.wait_converged(c, name, stack.url(settings), timeout)
    replicas = ", ".join(f"{service} {count}" for service, count in state.items())
    print(f"stack {name} is up: {stack.url(settings)}  ({replicas})")


@task(
    help={
        "name": "stack name (default: mlops-swarm)",
        "leave": "also leave the Swarm (default: stay in it)",
    }
)
def swarm_down(c: Context, name: str = "mlops-swarm", leave: bool = False) -> None:
    """Remove the Swarm stack with its networks and volumes."""
    from labctl import swarm

    docker.require_engine(c)
    swarm.remove(c, name)
    if leave:
        swarm.leave(c)
    print(f"stack {name} removed" + (" and the Swarm left" if leave else ""))


@task
def config(c: Context) -> None:
    """Show the settings the tasks use now, and where each can be changed."""
    settings = settings_of(c)
    rows = [
        (key, str(getattr(settings, key)), f"labs.{key} (invoke.yaml), {ENVIRONMENT[key]}")
        for key in DEFAULTS
    ]
    print(table.render(("setting", "value", "set it with"), rows))


@task
def env_example(c: Context) -> None:
    """Write .env.example: every variable the tasks and Compose read, its default and meaning."""
    from labctl import env_example as generator

    path = ROOT / generator.FILE_NAME
    try:
        written = generator.write(path)
    except ModuleNotFoundError as missing:
        raise Exit(
            f"inv env-example needs the test extra ({missing.name} is missing: it reads the "
            "images' settings): run './labs lint' once to install it, then 'inv env-example'",
            code=1,
        ) from None
    except ValueError as problem:
        raise Exit(f"{path.name} not written: {problem}", code=1) from None
    print(
        f"{path.name} written from the settings tables" if written else f"{path.name} is up to date"
    )


@task
def doctor(c: Context) -> None:
    """Check the engine, Compose v2, BuildKit, the base image and the CA; say what to fix."""
    checks = run_checks(c, settings_of(c))
    print(doctor_report(checks))
    if not all(check.ok for check in checks):
        raise Exit("some checks failed: fix them as shown above", code=1)


ns = Collection(
    setup,
    build,
    lab1,
    lab2,
    train,
    rollback,
    keys,
    models,
    smoke,
    metrics,
    audit,
    bench,
    down,
    clean,
    logs,
    lint,
    lock,
    test,
    mutate,
    config,
    doctor,
)
ns.add_task(base_image_, name="base-image")
ns.add_task(swarm_up, name="swarm-up")
ns.add_task(swarm_down, name="swarm-down")
ns.add_task(env_example, name="env-example")
ns.add_task(observe_graph, name="observe-graph")
# The settings' defaults, overridable by invoke.yaml and INVOKE_LABS_* (see labctl/settings.py).
ns.configure({"labs": DEFAULTS})
