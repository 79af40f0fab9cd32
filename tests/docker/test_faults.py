"""Faults survived by a running Lab 2 stack: crashes, kills, concurrent publishers, swaps.

Every load here is bounded (threads x seconds) and goes to this machine's loopback only.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time

import pytest

from labctl.stack import volume_name
from tests.docker.conftest import docker, running_stack
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


def trainer(stack, *args: str) -> tuple[subprocess.Popen, str]:
    """A training container publishing into the stack's registry volume (no network)."""
    name = f"{stack.settings.compose_project}-trainer-{random.randrange(10**9)}"
    volumes = []
    for volume, target in TRAINING_VOLUMES:
        volumes += ["-v", f"{volume_name(stack.settings, volume)}:{target}"]
    options = ["--rm", "--name", name, "--network", "none", "--read-only", "--tmpfs", "/tmp"]
    return subprocess.Popen(
        ["docker", "run", *options, *volumes, stack.settings.image("training"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ), name


def test_zero_downtime_model_swap_under_load(own_stack):
    before = own_stack.served_version()
    with Load(own_stack.url, threads=4) as results:
        time.sleep(2)
        result = own_stack.inv("train")
        time.sleep(3)
    after = own_stack.served_version()
    assert result.returncode == 0, result.stderr
    assert int(after[1:]) == int(before[1:]) + 1
    assert results.total > 100
    assert results.failed == 0, (results.statuses, results.errors[:5])
    assert set(results.versions) == {before, after}
    assert results.versions[-1] == after


def test_rollback_switches_the_server_back(own_stack):
    current = own_stack.served_version()
    assert current != "v1"
    result = own_stack.inv("rollback", "--to", "v1")
    assert result.returncode == 0, result.stderr
    assert own_stack.served_version() == "v1"
    assert own_stack.inv("rollback", "--to", current).returncode == 0
    assert own_stack.served_version() == current
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


def test_sigkill_during_training_never_corrupts_the_registry(own_stack):
    rng = random.Random(7)
    for _ in range(5):
        process, name = trainer(own_stack)
        time.sleep(rng.uniform(0.5, 3.0))
        docker("kill", "--signal", "KILL", name, check=False)
        process.communicate(timeout=120)
        latest = verify_registry(own_stack)
        assert own_stack.get_json("/readyz")["model"]["version"]
        assert wait_until(lambda latest=latest: own_stack.served_version() == latest, 30)


def test_tampered_version_is_refused_and_the_old_one_keeps_serving(own_stack):
    serving = own_stack.served_version()
    bad = f"v{int(verify_registry(own_stack)[1:]) + 1}"
    # An attacker with write access to the volume plants a modified pickle whose
    # metadata still carries the original sha256, and points LATEST at it.
    own_stack.registry_shell(
        f"cd /registry/iris-classifier && cp -a {serving} {bad} && "
        f'sed -i \'s/"version": "{serving}"/"version": "{bad}"/\' {bad}/metadata.json && '
        f"printf 'evil' >> {bad}/model.joblib && echo {bad} > LATEST"
    )
    try:
        time.sleep(5)  # two and a half reload periods
        assert own_stack.served_version() == serving
        metrics = own_stack.metrics()
        assert metric_value(metrics, "model_load_failures_total") >= 1
        logs = own_stack.inv("logs", "--service", "serving", "--tail", "5000").stdout
        refusals = [line for line in logs.splitlines() if '"model refused"' in line]
        assert refusals and "signature" in refusals[-1], refusals[-1:]
    finally:
        own_stack.registry_shell(
            f"cd /registry/iris-classifier && rm -rf {bad} && echo {serving} > LATEST"
        )


@pytest.mark.parametrize("pointer", ["../../../etc", "v1/../../..", "/etc/passwd"])
def test_latest_cannot_point_outside_the_registry(own_stack, pointer):
    serving = own_stack.served_version()
    own_stack.registry_shell(f"echo '{pointer}' > /registry/iris-classifier/LATEST")
    try:
        time.sleep(3)
        assert own_stack.served_version() == serving
        assert own_stack.get_json("/model")["version"] == serving
    finally:
        own_stack.registry_shell(f"echo {serving} > /registry/iris-classifier/LATEST")


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
        assert wait_until(lambda: len(_gunicorn_processes(own_stack)[1]) == 2
                          and workers[0] not in _gunicorn_processes(own_stack)[1], 30)  # fmt: skip
        answered_before = results.statuses[200]
        time.sleep(2)
    assert _gunicorn_processes(own_stack)[0] == master  # no container restart
    assert results.statuses[200] > answered_before + 50  # kept answering after the kill
    # Only requests inside the killed worker (4 threads) may have failed.
    assert results.failed <= 4, (results.statuses, results.errors[:5])


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


def test_largest_requests_are_refused_or_served_never_oom_killed(own_stack):
    serving = own_stack.container("serving")
    restarts = docker("inspect", "-f", "{{.RestartCount}}", serving).stdout
    batch = ('{"instances": [' + ",".join(["[5.1, 3.5, 1.4, 0.2]"] * 1000) + "]}").encode()
    with Load(own_stack.url, threads=8, body=batch) as results:
        time.sleep(5)
    assert results.failed == 0 and results.statuses[200] > 20, (
        results.statuses,
        results.errors[:3],
    )
    too_many = ('{"instances": [' + ",".join(["[5.1, 3.5, 1.4, 0.2]"] * 1001) + "]}").encode()
    too_big = b'{"instances": [' + b"[5.1, 3.5, 1.4, 0.2]," * 20000 + b"[1,2,3,4]]}"
    with Load(own_stack.url, threads=1, body=too_many) as refused:
        time.sleep(1)
    with Load(own_stack.url, threads=1, body=too_big) as refused_big:
        time.sleep(1)
    assert set(refused.statuses) == {413} and set(refused_big.statuses) == {413}
    state = docker(
        "inspect", "-f", "{{.State.OOMKilled}} {{.RestartCount}}", serving
    ).stdout.split()
    assert state == ["false", restarts.strip()]
    usage = docker("stats", "--no-stream", "--format", "{{.MemPerc}}", serving).stdout
    assert float(usage.strip().rstrip("%")) < 90


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


def test_graceful_shutdown_finishes_requests_in_flight(images):
    with running_stack(images, "shutdown") as stack:
        body = b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
        head = (
            f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        in_flight = []
        for _ in range(8):
            connection = socket.create_connection(
                ("127.0.0.1", stack.settings.lab2_port), timeout=30
            )
            connection.sendall(head + body[:10])
            in_flight.append(connection)
        down = threading.Thread(target=stack.inv, args=("down",))
        down.start()
        time.sleep(1.5)
        assert down.is_alive(), "down finished while requests were still in flight"
        statuses = []
        for connection in in_flight:
            connection.sendall(body[10:])
            reply = b""
            while chunk := connection.recv(65536):
                reply += chunk
            connection.close()
            statuses.append(reply.split(b" ", 2)[1] if reply else b"no reply")
        down.join(timeout=120)
        assert statuses == [b"200"] * 8


def test_failed_training_is_reported_and_serving_never_starts(images):
    from tests.docker.conftest import TEST_PROJECT_PREFIX, Lab2, free_port

    settings = images.__class__(
        **{**images.__dict__, "compose_project": f"{TEST_PROJECT_PREFIX}bad-training",
           "lab2_port": free_port()}
    )  # fmt: skip
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
