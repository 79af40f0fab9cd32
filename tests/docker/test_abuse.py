"""Abuse that once took the stack down: made-up HTTP methods, and crowds of slow uploaders.

Bounded like every load here (connections x seconds), on this machine only.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

from tests.docker.conftest import docker, docker_process

pytestmark = pytest.mark.docker

# Made-up methods sent straight to gunicorn, from inside the serving container (nginx
# answers them itself with 405, so through the proxy they never reach the app).
METHODS_TO_GUNICORN = """
import http.client, json, random, string, sys
count = int(sys.argv[1])
rng = random.Random(11)
statuses = {}
connection = http.client.HTTPConnection("127.0.0.1", 8080, timeout=10)
for _ in range(count):
    method = "".join(rng.choice(string.ascii_uppercase) for _ in range(12))
    try:
        connection.request(method, "/x")
        reply = connection.getresponse()
        reply.read()
    except (OSError, http.client.HTTPException):
        connection.close()
        connection = http.client.HTTPConnection("127.0.0.1", 8080, timeout=10)
        statuses["error"] = statuses.get("error", 0) + 1
        continue
    statuses[reply.status] = statuses.get(reply.status, 0) + 1
print(json.dumps(statuses))
"""

# Slow uploaders, from a container on the proxy's network (another address than this
# machine's): each announces a 256 KiB body, then trickles a byte a second.
SLOW_UPLOADERS = """
import json, socket, sys, time
host, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
held, statuses = [], {}

def answer(s):
    s.settimeout(0.2)
    try:
        reply = s.recv(200)
    except OSError:
        return None
    return reply.split(b" ")[1].decode() if reply.startswith(b"HTTP/") else "closed"

for _ in range(count):
    s = socket.create_connection((host, 8080), timeout=5)
    s.sendall(b"POST /predict HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/json\\r\\n"
              b"Content-Length: 262144\\r\\n\\r\\n" + b" " * 1024)
    held.append(s)
time.sleep(1)
for s in list(held):  # who was answered at once (429: over a limit)
    status = answer(s)
    if status is not None:
        statuses[status] = statuses.get(status, 0) + 1
        held.remove(s)
        s.close()
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    for s in held:
        try:
            s.sendall(b" ")
        except OSError:
            pass
    time.sleep(1)
statuses["held"] = len(held)
for s in held:
    s.close()
print(json.dumps(statuses))
"""


def _metrics_dir_bytes(stack) -> int:
    return int(stack.exec("serving", "du", "-sb", "/tmp/metrics").stdout.split()[0])


def test_ten_thousand_made_up_methods_change_nothing(own_stack):
    # Through the proxy: every one is nginx's 405, as JSON.
    through = own_stack.exec(
        "proxy",
        "python",
        "-c",
        "import http.client; c = http.client.HTTPConnection('127.0.0.1', 8080); "
        "c.request('ZXCVBNMASDFG', '/predict'); r = c.getresponse(); "
        "print(r.status, r.getheader('Content-Type'))",
    ).stdout.split()
    assert through == ["405", "application/json"]
    before_files, before_text = _metrics_dir_bytes(own_stack), len(own_stack.metrics())
    result = own_stack.exec("serving", "python", "-c", METHODS_TO_GUNICORN, "10000")
    statuses = json.loads(result.stdout)
    assert sum(statuses.values()) == 10000 and "error" not in statuses, statuses
    assert own_stack.get_json("/readyz")["status"] == "ready"
    # Every made-up method is one label value ("other"): the metrics do not grow with them.
    after_files, after_text = _metrics_dir_bytes(own_stack), len(own_stack.metrics())
    assert after_files <= before_files + 256 * 1024, (before_files, after_files)
    assert after_text <= before_text + 4096, (before_text, after_text)
    restarts = docker("inspect", "-f", "{{.RestartCount}}", own_stack.container("serving"))
    assert restarts.stdout.strip() == "0"


def test_a_crowd_of_slow_uploaders_cannot_exhaust_the_proxy(own_stack):
    proxy = own_stack.container("proxy")
    network = f"{own_stack.settings.compose_project}_frontend"
    crowd = docker_process(
        "run",
        "--rm",
        "--network",
        network,
        "--entrypoint",
        "python",
        own_stack.settings.image("training"),
        "-c",
        SLOW_UPLOADERS,
        "proxy",
        "150",
        "8",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak: list[float] = []
    answered: list[int] = []

    def watch():
        while crowd.poll() is None:
            peak.extend(memory_mib_values(proxy))
            try:
                answered.append(200 if own_stack.get_json("/healthz") == {"status": "ok"} else 0)
            except OSError:
                answered.append(0)
            time.sleep(0.5)

    watcher = threading.Thread(target=watch)
    watcher.start()
    out, err = crowd.communicate(timeout=120)
    watcher.join()
    statuses = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    assert crowd.returncode == 0, err[-2000:]
    # One client gets at most 64 requests at once: the rest of the crowd is told 429.
    assert statuses.get("held") == 64 and statuses.get("429") == 150 - 64, statuses
    # Meanwhile everyone else was answered, and the proxy stayed inside its 64 MiB.
    assert answered and all(status == 200 for status in answered), answered
    assert peak and max(peak) < 64, max(peak or [0])
    state = json.loads(docker("inspect", "-f", "{{json .State}}", proxy).stdout)
    assert not state["OOMKilled"] and state["Running"]


def memory_mib_values(container: str) -> list[float]:
    """The container's memory now, in MiB (docker stats), as a one-item list."""
    used = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container).stdout
    amount = used.split("/")[0].strip()
    units = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "B": 1 / 2**20}
    unit = next(u for u in ("KiB", "MiB", "GiB", "B") if amount.endswith(u))
    return [float(amount[: -len(unit)]) * units[unit]]
