"""The Docker tests' load generator loses no failure: against a stub server, every kind
of bad answer is counted, and no worker thread dies."""

from __future__ import annotations

import http.server
import json
import time

import pytest

from tests.docker.load import Load
from tests.http_stub import serve

ANSWERS = [
    (200, {"model": {"version": "v1"}, "predictions": []}),
    (200, {"predictions": []}),  # no model: a 200 without a version
    (200, {"model": "v1"}),  # a model without a version field
    (503, {"error": {"code": "model_not_ready"}}),
    (200, None),  # not JSON
]


class _Stub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        status, body = ANSWERS[_Stub.count % len(ANSWERS)]
        _Stub.count += 1
        data = b"{not json" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    with serve(_Stub) as port:
        yield f"http://127.0.0.1:{port}"


def test_every_kind_of_failure_is_counted_and_no_thread_dies(stub):
    load = Load(stub, threads=2)
    with load as results:
        deadline = time.monotonic() + 10
        while results.total < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(worker.is_alive() for worker in load.workers)
    kinds = results.breakdown()
    assert kinds["non_2xx"] > 0 and kinds["exceptions"] > 0 and kinds["unversioned"] > 0, kinds
    assert set(results.versions) == {"v1"}
    with pytest.raises(AssertionError):
        results.assert_clean(at_least=1)
