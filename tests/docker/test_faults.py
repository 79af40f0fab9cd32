"""Faults survived by a running Lab 2 stack: crashes, kills, concurrent publishers, swaps.

Every load here is bounded (threads x seconds) and goes to this machine's loopback only.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from labctl.stack import volume_name
from model_registry.publish import PAUSE_STAGES, PAUSE_VARIABLE
from tests.docker.conftest import docker, docker_process, running_stack
from tests.docker.load import Load

pytestmark = pytest.mark.docker


def wait_until(predicate, timeout_s: float, interval_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(interval_s)
    return False


def verify_registry(stack) -> str:
    """Every version complete and matching its sha256; return LATEST."""
    result = stack.registry_shell("python -m model_registry --registry /registry verify")
    assert "BAD" not in result.stdout, result.stdout
    return stack.registry_shell("cat /registry/iris-classifier/LATEST").stdout.strip()


# What the training service mounts: the registry, its signing key, the trusted keys.
TRAINING_VOLUMES = [
    ("", "/registry"),
    ("signing-key", "/signing"),
    ("trusted-keys", "/trusted-keys"),
]


def trainer(stack, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """A training container publishing into the stack's registry volume (no network)."""
    name = f"{stack.settings.compose_project}-trainer-{random.randrange(10**9)}"
    volumes = []
    for volume, target in TRAINING_VOLUMES:
        volumes += ["-v", f"{volume_name(stack.settings, volume)}:{target}"]
    options = ["--rm", "--name", name, "--network", "none", "--read-only", "--tmpfs", "/tmp"]
    for variable, value in (env or {}).items():
        options += ["--env", f"{variable}={value}"]
    return docker_process(
        "run",
        *options,
        *volumes,
        stack.settings.image("training"),
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ), name


def _pids(stack) -> tuple[int, list[int]]:
    """gunicorn's master and workers now; the same tuple later means no restart at all."""
    return _gunicorn_processes(stack)


def test_zero_downtime_model_swap_under_load(own_stack):
    before = own_stack.wait_all_workers(own_stack.served_version())
    processes = _pids(own_stack)
    old = next(iter(before.values()))
    with Load(own_stack.url, threads=4) as results:
        assert wait_until(lambda: results.statuses[200] >= 50, 30)  # the load is on
        result = own_stack.inv("train")
        assert result.returncode == 0, result.stdout + result.stderr
        new = f"v{int(old[1:]) + 1}"
        own_stack.wait_all_workers(new)
        # Answers from every worker after the swap, not just one.
        seen = len(results.versions)
        assert wait_until(lambda: results.versions[seen:].count(new) >= 50, 30)
    results.assert_clean(at_least=100)
    assert set(results.versions) == {old, new}
    assert results.versions[-1] == new
    assert _pids(own_stack) == processes  # no worker, no master restarted


def test_rollback_switches_every_worker_back_without_a_restart(own_stack):
    current = own_stack.served_version()
    assert current != "v1"
    processes = _pids(own_stack)
    restarts = docker("inspect", "-f", "{{.RestartCount}}", own_stack.container("serving"))
    result = own_stack.inv("rollback", "--to", "v1")
    assert result.returncode == 0, result.stderr
    # Every worker (pids as the container sees them) switched, none was restarted.
    assert len(own_stack.wait_all_workers("v1")) == len(processes[1]) == 2
    assert own_stack.inv("rollback", "--to", current).returncode == 0
    assert len(own_stack.wait_all_workers(current)) == 2
    assert _pids(own_stack) == processes
    after = docker("inspect", "-f", "{{.RestartCount}}", own_stack.container("serving"))
    assert after.stdout == restarts.stdout
    refused = own_stack.inv("rollback", "--to", "v999")
    assert (
        refused.returncode == 1
        and "not a complete published version" in refused.stderr + refused.stdout
    )


def test_concurrent_publishers_get_distinct_complete_versions(own_stack):
    start = int(own_stack.served_version()[1:])
    runs = [trainer(own_stack, "--seed", str(seed)) for seed in range(3)]
    outputs = []
    for process, _ in runs:
        outputs.append(process.communicate(timeout=300)[0])
        assert process.returncode == 0, outputs[-1]
    published = sorted(
        int(out.split("published iris-classifier v")[1].split()[0]) for out in outputs
    )
    assert published == [start + 1, start + 2, start + 3]
    assert verify_registry(own_stack) == f"v{start + 3}"
    assert wait_until(lambda: own_stack.served_version() == f"v{start + 3}", 30)


@pytest.mark.parametrize("stage", PAUSE_STAGES)
def test_sigkill_during_training_never_corrupts_the_registry(own_stack, stage):
    """The training container is killed (SIGKILL, from outside) at each step of a
    publish, exactly there: the publisher's test hook (MODEL_REGISTRY_PAUSE_AT, see
    FORMAT.md) stops it at the stage and says so, then the kill lands. Every version
    stays whole and verified, LATEST still names the old one, and serving never stops."""
    before, newest = verify_registry(own_stack), _newest_version(own_stack)
    process, name = trainer(own_stack, env={PAUSE_VARIABLE: stage})
    output = []
    for line in process.stdout:  # ends, at the latest, when a trainer that never paused exits
        output.append(line)
        if f"model_registry: paused at {stage} " in line:
            break
    assert any(f"paused at {stage} " in line for line in output), "".join(output[-20:])
    docker("kill", "--signal", "KILL", name, check=False)
    process.communicate(timeout=120)
    assert process.returncode == 137  # killed, not finished
    assert verify_registry(own_stack) == before
    assert own_stack.get_json("/readyz")["model"]["version"] == before
    assert wait_until(lambda: own_stack.served_version() == before, 30)
    # From "claimed" on, the new version was whole before the kill: it is there, verified
    # (LATEST never named it); before that, no version number was taken.
    claimed = PAUSE_STAGES.index(stage) >= PAUSE_STAGES.index("claimed")
    assert _newest_version(own_stack) == newest + (1 if claimed else 0)


def _newest_version(stack) -> int:
    """The highest version number in the registry (every one verified by the listing)."""
    listed = stack.registry_shell("python -m model_registry --registry /registry verify").stdout
    return max(int(word[1:]) for word in listed.split() if re.fullmatch(r"v\d+", word))


def test_tampered_version_is_refused_and_the_old_one_keeps_serving(own_stack):
    serving = own_stack.served_version()
    assert verify_registry(own_stack) == serving
    # A number no version has: earlier tests may leave whole versions LATEST never named.
    bad = f"v{_newest_version(own_stack) + 1}"
    failures = metric_value(own_stack.metrics(), "serving_model_load_failures_total")
    # An attacker with write access to the volume plants a modified pickle whose
    # metadata still carries the original sha256, and points LATEST at it.
    own_stack.registry_shell(
        f"cd /registry/iris-classifier && test ! -e {bad} && cp -a {serving} {bad} && "
        f'sed -i \'s/"version": "{serving}"/"version": "{bad}"/\' {bad}/metadata.json && '
        f"printf 'evil' >> {bad}/model.joblib && echo {bad} > LATEST"
    )
    try:
        # Each worker refuses it once, and counts it: wait for both counts.
        assert wait_until(
            lambda: (
                metric_value(own_stack.metrics(), "serving_model_load_failures_total")
                >= failures + 2
            ),
            30,
        )
        assert set(own_stack.worker_versions().values()) == {serving}
        logs = own_stack.inv("logs", "--service", "serving", "--tail", "5000").stdout
        refusals = [line for line in logs.splitlines() if '"model refused"' in line]
        assert refusals and "signature" in refusals[-1], refusals[-1:]
    finally:
        own_stack.registry_shell(
            f"cd /registry/iris-classifier && rm -rf {bad} && echo {serving} > LATEST"
        )


@pytest.mark.parametrize("target", ["/dev/zero", "/etc/passwd", "/proc/self/environ"])
def test_latest_linked_out_of_the_registry_is_never_read(own_stack, target):
    """Were LATEST followed out of the registry, /dev/zero would be read without end (the
    worker runs out of memory and is killed), the others taken as a version."""
    serving = own_stack.served_version()
    processes = _pids(own_stack)
    failures = metric_value(own_stack.metrics(), "serving_model_load_failures_total")
    own_stack.registry_shell(f"ln -sfn {target} /registry/iris-classifier/LATEST")
    try:
        assert wait_until(
            lambda: (
                metric_value(own_stack.metrics(), "serving_model_load_failures_total")
                >= failures + 2
            ),
            30,
        )
        logs = own_stack.inv("logs", "--service", "serving", "--tail", "5000").stdout
        refusals = [line for line in logs.splitlines() if '"model refused"' in line]
        assert refusals and "leads out of the registry" in refusals[-1], refusals[-1:]
        assert set(own_stack.worker_versions().values()) == {serving}
        assert _pids(own_stack) == processes  # no worker died
    finally:
        own_stack.registry_shell(
            f"rm -f /registry/iris-classifier/LATEST && echo {serving} > /registry/iris-classifier/LATEST"
        )


def metric_value(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + " ") or line.startswith(name + "{")
    )


def _gunicorn_processes(stack) -> tuple[int, list[int]]:
    """Host PIDs of gunicorn's master and of its workers."""
    master = int(docker("inspect", "-f", "{{.State.Pid}}", stack.container("serving")).stdout)
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True, check=False
    ).stdout.split()
    return master, sorted(map(int, children))


def test_killed_worker_is_replaced_and_the_server_keeps_answering(own_stack):
    master, workers = _gunicorn_processes(own_stack)
    assert len(workers) == 2
    with Load(own_stack.url, threads=4) as results:
        time.sleep(1)
        os.kill(workers[0], signal.SIGKILL)
        assert wait_until(
            lambda: (
                len(_gunicorn_processes(own_stack)[1]) == 2
                and workers[0] not in _gunicorn_processes(own_stack)[1]
            ),
            30,
        )
        answered_before = results.statuses[200]
        time.sleep(2)
    assert _gunicorn_processes(own_stack)[0] == master  # no container restart
    assert results.statuses[200] > answered_before + 50  # kept answering after the kill
    # Only the one request inside the killed sync worker may have failed; every answer
    # named its version.
    assert results.unversioned == 0 and results.failed <= 1, (
        results.breakdown(),
        results.errors[:5],
    )


def test_crashed_server_is_restarted_by_the_restart_policy(own_stack):
    serving = own_stack.container("serving")
    restarts = int(docker("inspect", "-f", "{{.RestartCount}}", serving).stdout)
    master, _ = _gunicorn_processes(own_stack)
    started = time.monotonic()
    os.kill(master, signal.SIGKILL)
    assert wait_until(
        lambda: int(docker("inspect", "-f", "{{.RestartCount}}", serving).stdout) == restarts + 1,
        60,
    )
    assert wait_until(lambda: own_stack.get_json("/readyz")["status"] == "ready", 60)
    recovery = time.monotonic() - started
    print(f"serving back and ready {recovery:.1f} s after its master was killed")
    assert own_stack.inv("smoke").returncode == 0


def _memory_percent(container: str) -> float:
    usage = docker("stats", "--no-stream", "--format", "{{.MemPerc}}", container).stdout
    return float(usage.strip().rstrip("%"))


def test_largest_requests_are_refused_or_served_never_oom_killed(own_stack):
    serving = own_stack.container("serving")
    restarts = docker("inspect", "-f", "{{.RestartCount}}", serving).stdout
    batch = ('{"instances": [' + ",".join(["[5.1, 3.5, 1.4, 0.2]"] * 1000) + "]}").encode()
    peak: list[float] = []
    readiness: list[float] = []
    with Load(own_stack.url, threads=8, body=batch) as results:
        # Memory sampled while the load runs (docker stats takes ~1 s a sample), not after.
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            peak.append(_memory_percent(serving))
            started = time.monotonic()
            assert own_stack.get_json("/readyz")["status"] == "ready"
            readiness.append(time.monotonic() - started)
    results.assert_clean(at_least=20)
    assert len(peak) >= 3 and max(peak) < 90, peak
    # Probes wait in the sync workers' accept queue with the load: under the largest
    # batches they still answer far inside the healthcheck's 3 s timeout, and serving
    # stays healthy.
    assert max(readiness) < 1.0, readiness
    health = docker("inspect", "-f", "{{.State.Health.Status}}", serving).stdout.strip()
    assert health == "healthy", health
    too_many = ('{"instances": [' + ",".join(["[5.1, 3.5, 1.4, 0.2]"] * 1001) + "]}").encode()
    too_big = b'{"instances": [' + b"[5.1, 3.5, 1.4, 0.2]," * 20000 + b"[1,2,3,4]]}"
    with Load(own_stack.url, threads=1, body=too_many) as refused:
        assert wait_until(lambda: refused.total >= 5, 10)
    with Load(own_stack.url, threads=1, body=too_big) as refused_big:
        assert wait_until(lambda: refused_big.total >= 5, 10)
    assert set(refused.statuses) == {413} and set(refused_big.statuses) == {413}
    state = docker(
        "inspect", "-f", "{{.State.OOMKilled}} {{.RestartCount}}", serving
    ).stdout.split()
    assert state == ["false", restarts.strip()]


def test_slow_clients_do_not_starve_normal_ones(own_stack):
    port = own_stack.settings.lab2_port
    slow = []
    try:
        for _ in range(50):
            connection = socket.create_connection(("127.0.0.1", port), timeout=5)
            connection.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            )
            slow.append(connection)
        time.sleep(0.5)
        for connection in slow:  # one more header line each: still not a whole request
            connection.sendall(b"X-Slow: 1\r\n")
        timings = []
        for _ in range(20):
            started = time.monotonic()
            assert own_stack.get_json("/readyz")["status"] == "ready"
            timings.append(time.monotonic() - started)
        assert max(timings) < 1.0, timings
    finally:
        for connection in slow:
            connection.close()


# Straight to gunicorn, from a container on the backend network: one request per sync
# worker (argv[1] of them), bodies half sent, so every worker is inside a request; the
# rest of each body goes once the test says "go" (after the stop has begun); prints
# every status.
HALF_SENT = """
import socket, sys
body = b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
head = (b"POST /predict HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/json\\r\\n"
        b"Content-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % len(body))
held = []
for _ in range(int(sys.argv[1])):
    s = socket.create_connection(("serving", 8080), timeout=60)
    s.sendall(head + body[:10])
    held.append(s)
print("held", flush=True)
sys.stdin.readline()
for s in held:
    s.sendall(body[10:])
    reply = b""
    while chunk := s.recv(65536):
        reply += chunk
    print(reply.split(b" ", 2)[1].decode() if reply else "no reply", flush=True)
"""


def _logged(container: str, text: str, timeout_s: float = 30) -> bool:
    return wait_until(
        lambda: text in docker("logs", container).stderr + docker("logs", container).stdout,
        timeout_s,
    )


def test_gunicorn_finishes_requests_in_flight_when_stopped(images):
    """gunicorn's graceful shutdown, reached directly: the stop has begun (its log says
    so) while each of the two workers is half way through reading a request; each still
    gets its 200."""
    with running_stack(images, "shutdown-gunicorn") as stack:
        serving = stack.container("serving")
        client = docker_process(
            "run",
            "--rm",
            "-i",
            "--network",
            f"{stack.settings.compose_project}_backend",
            "--entrypoint",
            "python",
            stack.settings.image("training"),
            "-c",
            HALF_SENT,
            "2",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdout.readline().strip() == "held"
        stop = threading.Thread(target=docker, args=("stop", "-t", "25", serving))
        stop.start()
        assert _logged(serving, "Handling signal: term")
        assert stop.is_alive(), "gunicorn stopped with requests still in flight"
        out, _ = client.communicate("go\n", timeout=60)
        stop.join(60)
        assert out.split() == ["200"] * 2


def test_the_proxy_finishes_requests_in_flight_when_stopped(images):
    """nginx's graceful shutdown: once it has stopped taking connections (a new one is
    refused), eight requests it holds half read still get their 200."""
    with running_stack(images, "shutdown-proxy") as stack:
        port = stack.settings.lab2_port
        body = b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
        head = (
            f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        in_flight = []
        for _ in range(8):
            connection = socket.create_connection(("127.0.0.1", port), timeout=30)
            connection.sendall(head + body[:10])
            in_flight.append(connection)
        stop = threading.Thread(target=docker, args=("stop", "-t", "25", stack.container("proxy")))
        stop.start()

        def refused() -> bool:
            """No answer to a new request: docker-proxy takes the connection, but nginx
            no longer does, so it is closed unanswered."""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:
                    probe.sendall(b"GET /proxy-healthz HTTP/1.0\r\n\r\n")
                    return not probe.recv(64).startswith(b"HTTP/")
            except OSError:
                return True

        assert wait_until(refused, 30)
        assert stop.is_alive(), "nginx stopped with requests still in flight"
        statuses = []
        for connection in in_flight:
            connection.sendall(body[10:])
            reply = b""
            while chunk := connection.recv(65536):
                reply += chunk
            connection.close()
            statuses.append(reply.split(b" ", 2)[1] if reply else b"no reply")
        stop.join(60)
        assert statuses == [b"200"] * 8


def test_failed_training_is_reported_and_serving_never_starts(images):
    from tests.docker.conftest import Lab2, free_port, project_name

    settings = images.__class__(
        **{
            **images.__dict__,
            "compose_project": project_name("bad-training"),
            "lab2_port": free_port(),
        }
    )
    stack = Lab2(settings)
    stack.env["MODEL_TYPE"] = "forest"
    try:
        result = stack.inv("lab2", "--no-build", timeout=300)
        assert result.returncode == 1
        assert "the training service failed (exit code 2)" in result.stderr
        assert "Traceback" not in result.stderr
        state = docker("inspect", "-f", "{{.State.Running}}", stack.container("serving")).stdout
        assert state.strip() == "false"
        logs = stack.inv("logs", "--service", "training").stdout
        assert "MODEL_TYPE='forest'" in logs
    finally:
        stack.inv("down", "--volumes")
