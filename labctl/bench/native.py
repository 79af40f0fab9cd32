"""Our server natively: the serving app under gunicorn with the image's own configuration
file, from the host's venv, with no container, no proxy and no NAT around it. The bench
runs it (never imports it): training publishes a signed version into a temporary registry,
gunicorn serves it on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labctl import stack
from labctl.bench.wait import wait_ready
from labctl.settings import Settings


def _publish(settings: Settings, env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "training"],
        cwd=settings.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"native training failed: {last}")


@contextmanager
def server(settings: Settings, workdir: Path) -> Iterator[str]:
    """Serve a freshly trained version natively; yield its base URL; stop it."""
    env = {
        **os.environ,
        "MODEL_REGISTRY": str(workdir / "registry"),
        "MODEL_SIGNING_KEY": str(workdir / "signing" / "key"),
        "MODEL_TRUSTED_KEYS": str(workdir / "trusted"),
    }
    _publish(settings, env)
    port = stack.free_port()
    env |= {"PORT": str(port), "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics")}
    # gunicorn's and the app's JSON lines go to a file, as the container's go to its log.
    with open(workdir / "gunicorn.log", "w") as log:
        # Loopback only: the config file binds every interface (for the container).
        command = [sys.executable, "-m", "gunicorn", "-c", "app/gunicorn_conf.py"]
        command += ["--bind", f"127.0.0.1:{port}", "app:create_app()"]
        process = subprocess.Popen(
            command,
            cwd=settings.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(f"{url}/readyz", 60)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
