"""Swap the bench stack's serving service for another server (the framework ceiling, the
peer) with a Compose override: same limits, networks and nginx, same published port."""

from __future__ import annotations

from collections.abc import Mapping

from invoke import Context

from labctl import docker, stack
from labctl.bench.wait import wait_ready
from labctl.settings import Settings


def serving(
    c: Context,
    bench: Settings,
    override: str,
    ready_path: str,
    env: Mapping[str, str] | None = None,
) -> None:
    """Recreate serving from `override` (and the proxy, which resolves serving's address
    once at start); return once `ready_path` answers 200 through the proxy."""
    docker.compose(
        c,
        bench,
        ["up", "-d", "--no-deps", "--force-recreate", "serving", stack.PUBLIC_SERVICE],
        files=(*stack.FILES, override),
        env=env,
        hide=True,
        echo=False,
    )
    wait_ready(f"{stack.url(bench)}{ready_path}", 120)
