"""The gunicorn workers of a running serving container, as the engine lists them."""

from __future__ import annotations

from invoke import Context

from labctl import docker


def workers(c: Context, container: str) -> dict[int, float]:
    """Host PID -> resident memory in MiB of each worker (a child of another process in
    the container: gunicorn's master is the only one whose parent is outside)."""
    lines = docker.output(c, "top", container, "-o", "pid,ppid,rss").splitlines()
    rows = [line.split() for line in lines[1:]]
    processes = [(int(pid), int(ppid), int(rss)) for pid, ppid, rss in rows]
    pids = {pid for pid, _, _ in processes}
    return {pid: round(rss / 1024, 1) for pid, ppid, rss in processes if ppid in pids}
