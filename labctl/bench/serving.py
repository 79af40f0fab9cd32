"""Serving speed: the hardened Lab 2 stack against the classic lab's Flask dev server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import replace

from invoke import Context

from labctl import docker, stack
from labctl.bench import wrk
from labctl.settings import Settings

ROW = [5.1, 3.5, 1.4, 0.2]
FORM = "sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2"


def _body(rows: int) -> str:
    return json.dumps({"instances": [ROW] * rows})


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def wait_ready(url: str, timeout_s: float = 60) -> float:
    """Seconds until url answers 200 (polled every 20 ms)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if _ready(url):
            return round(time.monotonic() - started, 3)
        time.sleep(0.02)
    raise TimeoutError(f"{url} not ready after {timeout_s} s")


def load_with_memory(c: Context, url, body, ctype, connections, seconds, containers) -> dict:
    """A wrk run, with the containers' memory sampled halfway through it."""
    sample = {}

    def take():
        time.sleep(seconds / 2)
        sample.update(docker.memory_mib(c, containers))

    sampler = threading.Thread(target=take)
    if containers:
        sampler.start()
    result = wrk.run(c, url, body, ctype, connections, seconds).as_dict()
    if containers:
        sampler.join()
    return {**result, "memory_mib": sample}


def measure(c: Context, settings: Settings, seconds: float, naive_image: str) -> dict:
    """Every serving measurement, ours and the classic one side by side."""
    bench = replace(
        settings, compose_project=f"labs-bench-{uuid.uuid4().hex[:6]}", lab2_port=stack.free_port()
    )
    classic = f"{bench.compose_project}-classic"
    results: dict = {"seconds_per_run": seconds}
    try:
        stack.up(c, bench, python_image=None)
        stack.wait_healthy(c, bench, 180)
        url = stack.url(bench)
        ready = stack.get_json(f"{url}/readyz") or {}
        results["runtime"] = ready.get("model", {}).get("runtime", "unknown")
        serving = stack.container_id(c, bench, "serving")
        proxy = stack.container_id(c, bench, stack.PUBLIC_SERVICE)
        names = {"serving": serving[:12], "proxy": proxy[:12]}
        predict = f"{url}/predict"
        wrk.run(c, predict, _body(1), "application/json", 8, 1)  # warm-up
        ours = {
            "single_c1": load_with_memory(c, predict, _body(1), "application/json", 1, seconds, []),
            "single_c8": load_with_memory(
                c, predict, _body(1), "application/json", 8, seconds, list(names.values())
            ),
        }
        for rows in (100, 1000):
            run = wrk.run(c, predict, _body(rows), "application/json", 8, seconds).as_dict()
            run["rows_per_s"] = round(run["requests_per_s"] * rows)
            ours[f"batch{rows}_c8"] = run
        # A bench-only override: serving and proxy may use every CPU of the machine.
        cpus = str(os.cpu_count() or 2)
        docker.docker(c, "update", "--cpus", cpus, serving, proxy)
        ours["single_c8_all_cpus"] = wrk.run(
            c, predict, _body(1), "application/json", 8, seconds
        ).as_dict()
        results["ours"] = ours
        results["containers"] = names

        # The classic lab: Flask's dev server, form fields, same model, same limits.
        port = stack.free_port()
        volume = stack.volume_name(bench)
        docker.docker(
            c,
            "run",
            "-d",
            "--name",
            classic,
            "--cpus",
            "1.5",
            "--memory",
            "512m",
            "--pids-limit",
            "128",
            "-v",
            f"{volume}:/registry:ro",
            "-p",
            f"127.0.0.1:{port}:5000",
            naive_image,
        )
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        classic_url = f"http://127.0.0.1:{port}/predict"
        form = "application/x-www-form-urlencoded"
        results["classic"] = {
            "single_c1": load_with_memory(c, classic_url, FORM, form, 1, seconds, []),
            "single_c8": load_with_memory(c, classic_url, FORM, form, 8, seconds, [classic]),
        }

        # Serving container start -> ready (through the proxy, as clients see it).
        docker.docker(c, "stop", serving)
        started = time.monotonic()
        docker.docker(c, "start", serving)
        wait_ready(f"{url}/readyz")
        results["start_to_ready_s"] = round(time.monotonic() - started, 3)
    finally:
        docker.remove_containers(c, classic)
        stack.compose(c, bench, ["down", "--volumes"], hide=True, echo=False, warn=True)
    return results


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
