"""Serving speed, all measured in one bench stack on one published port: ours, how
steady it is, how its cost grows, where a worker's time goes, the classic lab, the
ceilings of our own plumbing and the peers (MLServer, BentoML), each behind the same
nginx."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from invoke import Context

from labctl import docker, stack
from labctl.bench import bodies, curves, profile, swap, wrk
from labctl.bench.wait import wait_ready
from labctl.bench.workers import workers
from labctl.settings import Settings

# Single-row c=8 runs in a row, to see whether throughput depends on luck.
STABILITY_RUNS = 5
# The batch size the peer is compared on, besides single rows.
PEER_BATCH = 100
# What each server is asked for in V2: ours its label and probabilities; MLServer only
# its probabilities, since its scikit-learn runtime runs the model once per output asked
# (the label is their argmax): an advantage to the peer, never to us.
OURS_OUTPUTS = ("label", "probabilities")
MLSERVER_OUTPUTS = ("predict_proba",)
# The model's name in the registry (the bench stack trains it; /readyz names it).
_MODEL = "iris-classifier"
CEILING_OVERRIDE = "benchmarks/compose.ceiling.yaml"
MLSERVER_OVERRIDE = "benchmarks/compose.mlserver.yaml"
BENTOML_OVERRIDE = "benchmarks/compose.bentoml.yaml"


def with_memory(c: Context, url, body, ctype, connections, seconds, containers) -> dict:
    """A wrk run, with the containers' memory sampled halfway through it."""
    result, memory = wrk.run_probed(
        c, url, body, ctype, connections, seconds, lambda: docker.memory_mib(c, containers)
    )
    return {**result.as_dict(), "memory_mib": memory or {}}


def _warm_up(c: Context, url: str, body: str) -> None:
    """One second of load before a server is measured (each server gets one)."""
    wrk.run(c, url, body, bodies.JSON, 8, 1)


def stability(c: Context, predict_url: str, seconds: float) -> list[dict]:
    """STABILITY_RUNS single-row runs at c=8, back to back."""
    return [
        wrk.run(c, predict_url, bodies.predict(1), bodies.JSON, 8, seconds).as_dict()
        for _ in range(STABILITY_RUNS)
    ]


def pair(c: Context, url: str, body: Callable[[int], str], seconds: float) -> dict:
    """A server at c=8: single rows, and PEER_BATCH-row batches (body(rows) is a request)."""
    return {
        "single_c8": wrk.run(c, url, body(1), bodies.JSON, 8, seconds).as_dict(),
        f"batch{PEER_BATCH}_c8": wrk.batch(c, url, body(PEER_BATCH), PEER_BATCH, seconds),
    }


def _v2(outputs: tuple[str, ...]) -> Callable[[int], str]:
    return lambda rows: bodies.v2_infer(rows, outputs)


def profiled(c: Context, predict_url: str, seconds: float, serving: str) -> dict:
    """py-spy on one worker while wrk loads the stack with single rows at c=8."""
    pid = min(workers(c, serving))
    run, summary = wrk.run_probed(
        c,
        predict_url,
        bodies.predict(1),
        bodies.JSON,
        8,
        seconds,
        lambda: profile.record(pid, seconds - 1),
        after_s=0,
    )
    return {**(summary or {"skipped": "the profiler failed"}), "load": run.as_dict()}


def _cpus(c: Context, container: str) -> str:
    """A container's CPU limit as `docker update --cpus` takes it."""
    return str(int(docker.inspect(c, container, "{{.HostConfig.NanoCpus}}") or 0) / 1e9)


def _ours(c: Context, url: str, name: str, seconds: float, names: dict) -> dict:
    """Ours on /predict (single rows, batches) and on V2, with memory sampled at c=8."""
    predict, single = f"{url}/predict", (bodies.predict(1), bodies.JSON)
    ours = {
        "single_c1": with_memory(c, predict, *single, 1, seconds, []),
        "single_c8": with_memory(c, predict, *single, 8, seconds, list(names.values())),
    }
    for rows in (100, 1000):
        ours[f"batch{rows}_c8"] = wrk.batch(c, predict, bodies.predict(rows), rows, seconds)
    v2 = pair(c, f"{url}/v2/models/{name}/infer", _v2(OURS_OUTPUTS), seconds)
    ours |= {f"v2_{key}": run for key, run in v2.items()}
    return ours


def measure(c: Context, settings: Settings, seconds: float, naive_image: str) -> dict:
    """Every serving measurement, ours and the others side by side."""
    bench = replace(
        settings, compose_project=f"labs-bench-{uuid.uuid4().hex[:6]}", lab2_port=stack.free_port()
    )
    classic = f"{bench.compose_project}-classic"
    curve_seconds = max(1, round(seconds / 2))
    results: dict = {"seconds_per_run": seconds, "curve_seconds_per_run": curve_seconds}
    try:
        stack.up(c, bench, python_image=None)
        stack.wait_healthy(c, bench, 180)
        url = stack.url(bench)
        ready = stack.get_json(f"{url}/readyz") or {}
        model = ready.get("model", {})
        results["runtime"] = model.get("runtime", "unknown")
        serving = stack.container_id(c, bench, "serving")
        proxy = stack.container_id(c, bench, stack.PUBLIC_SERVICE)
        names = {"serving": serving[:12], "proxy": proxy[:12]}
        predict = f"{url}/predict"
        _warm_up(c, predict, bodies.predict(1))
        results["ours"] = _ours(c, url, model.get("name", _MODEL), seconds, names)
        results["stability"] = {"stack": stability(c, predict, seconds)}
        results["curves"] = {
            "concurrency": curves.concurrency(c, predict, curve_seconds),
            "batch": curves.batches(c, predict, curve_seconds, serving),
        }
        results["workers"] = len(workers(c, serving))
        results["profile"] = profiled(c, predict, seconds, serving)
        # Ceiling (a): nginx alone answers (its own /proxy-healthz, a constant), same
        # port, same single-row POST.
        proxy_only = f"{url}/proxy-healthz"
        results["ceilings"] = {
            "proxy": wrk.run(c, proxy_only, bodies.predict(1), bodies.JSON, 8, seconds).as_dict()
        }
        # A bench-only override: serving and proxy may use every CPU of the machine
        # for one run, then get their own limits back.
        limits = {name: _cpus(c, name) for name in (serving, proxy)}
        docker.docker(c, "update", "--cpus", str(os.cpu_count() or 2), serving, proxy)
        results["ours"]["single_c8_all_cpus"] = wrk.run(
            c, predict, bodies.predict(1), bodies.JSON, 8, seconds
        ).as_dict()
        for name, cpus in limits.items():
            docker.docker(c, "update", "--cpus", cpus, name)
        results["containers"] = names
        results["classic"] = _classic(c, bench, classic, naive_image, seconds)

        # Serving container start -> ready (through the proxy, as clients see it).
        docker.docker(c, "stop", serving)
        started = time.monotonic()
        docker.docker(c, "start", serving)
        wait_ready(f"{url}/readyz")
        results["start_to_ready_s"] = round(time.monotonic() - started, 3)

        results["ceilings"] |= _framework_ceiling(c, bench, seconds)
        results["peers"] = _peers(c, bench, model, seconds)
    finally:
        docker.remove_containers(c, classic)
        stack.compose(c, bench, ["down", "--volumes"], hide=True, echo=False, warn=True)
    return results


def _framework_ceiling(c: Context, bench: Settings, seconds: float) -> dict:
    """Ceiling (b): the same image, gunicorn config and Flask behind the same nginx,
    answering a constant with no model; measured, then profiled like ours."""
    predict = f"{stack.url(bench)}/predict"
    swap.serving(c, bench, CEILING_OVERRIDE, "/readyz")
    _warm_up(c, predict, bodies.predict(1))
    run = wrk.run(c, predict, bodies.predict(1), bodies.JSON, 8, seconds).as_dict()
    constant = stack.container_id(c, bench, "serving")
    return {"framework": run, "framework_profile": profiled(c, predict, seconds, constant)}


def _peers(c: Context, bench: Settings, model: dict, seconds: float) -> dict:
    """MLServer (V2), then BentoML (its /predict), each in serving's place serving the same
    registry version (`model`, as /readyz named it), behind the same nginx."""
    url, name = stack.url(bench), model.get("name", _MODEL)
    env = {"BENCH_MODEL_NAME": name, "BENCH_MODEL_VERSION": model.get("version", "v1")}
    swap.serving(c, bench, MLSERVER_OVERRIDE, f"/v2/models/{name}/ready", env)
    infer = f"{url}/v2/models/{name}/infer"
    _warm_up(c, infer, bodies.v2_infer(1, MLSERVER_OUTPUTS))
    peers = {"mlserver": pair(c, infer, _v2(MLSERVER_OUTPUTS), seconds)}
    swap.serving(c, bench, BENTOML_OVERRIDE, "/readyz", env)
    _warm_up(c, f"{url}/predict", bodies.predict(1))
    peers["bentoml"] = pair(c, f"{url}/predict", bodies.predict, seconds)
    return peers


def _classic(c: Context, bench: Settings, name: str, naive_image: str, seconds: float) -> dict:
    """The classic lab: Flask's dev server, form fields, same model, serving's limits."""
    port = stack.free_port()
    docker.docker(
        c,
        "run",
        "-d",
        "--name",
        name,
        "--cpus",
        "1.5",
        "--memory",
        "512m",
        "--pids-limit",
        "128",
        "-v",
        f"{stack.volume_name(bench)}:/registry:ro",
        "-p",
        f"127.0.0.1:{port}:5000",
        naive_image,
    )
    wait_ready(f"http://127.0.0.1:{port}/healthz")
    classic_url = f"http://127.0.0.1:{port}/predict"
    form = bodies.FORM, bodies.FORM_TYPE
    return {
        "single_c1": with_memory(c, classic_url, *form, 1, seconds, []),
        "single_c8": with_memory(c, classic_url, *form, 8, seconds, [name]),
    }


def lab2_warm_seconds(c: Context, settings: Settings) -> float:
    """`inv lab2` from nothing running (images and caches warm) to healthy."""
    project = f"labs-bench-lab2-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "LAB2_PROJECT": project, "LAB2_PORT": str(stack.free_port())}
    command = [sys.executable, "-m", "invoke", "lab2"]
    started = time.monotonic()
    try:
        subprocess.run(
            command, cwd=settings.root, env=env, check=True, capture_output=True, timeout=600
        )
        return round(time.monotonic() - started, 2)
    finally:
        subprocess.run(
            [sys.executable, "-m", "invoke", "down", "--volumes"],
            cwd=settings.root,
            env=env,
            capture_output=True,
            check=False,
            timeout=300,
        )
