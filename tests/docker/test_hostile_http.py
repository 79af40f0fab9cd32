"""Hostile HTTP through the whole stack (nginx, gunicorn, Flask): 4xx JSON, never a 5xx."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass

import pytest

pytestmark = pytest.mark.docker

ROW = b"[5.1, 3.5, 1.4, 0.2]"


def raw(port: int, request: bytes) -> tuple[int, dict, bytes]:
    """Send bytes, read the whole reply (Connection: close); return status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as connection:
        connection.sendall(request)
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def post(port: int, body: bytes, content_type: str = "application/json") -> tuple[int, dict, bytes]:
    head = f"POST /predict HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {len(body)}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return raw(port, head.encode() + b"\r\n" + body)


@dataclass(frozen=True)
class Case:
    """A hostile body sent to /predict, and the JSON error it must get."""

    name: str
    body: bytes
    ctype: str
    status: int
    code: str


CASES = [
    Case(
        "oversized body",
        b'{"instances": [' + ROW * 20000 + b"]}",
        "application/json",
        413,
        "payload_too_large",
    ),
    Case(
        "deeply nested JSON", b"[" * 50000 + b"]" * 50000, "application/json", 400, "malformed_json"
    ),
    Case(
        "huge batch",
        b'{"instances": [' + b",".join([ROW] * 5000) + b"]}",
        "application/json",
        413,
        "batch_too_large",
    ),
    Case("wrong content type", b"5.1,3.5,1.4,0.2", "text/csv", 415, "unsupported_media_type"),
    Case("no content type", b'{"instances": [[1, 2, 3, 4]]}', "", 415, "unsupported_media_type"),
    Case(
        "non-UTF-8 bytes",
        b'{"instances": [["\xff\xfe"]]}',
        "application/json",
        400,
        "malformed_json",
    ),
    Case(
        "NaN literal",
        b'{"instances": [[NaN, 3.5, 1.4, 0.2]]}',
        "application/json",
        422,
        "invalid_instance",
    ),
    Case(
        "Infinity literal",
        b'{"instances": [[5.1, Infinity, 1.4, 0.2]]}',
        "application/json",
        422,
        "invalid_instance",
    ),
    Case(
        "numbers as strings",
        b'{"instances": [["5.1", "3.5", "1.4", "0.2"]]}',
        "application/json",
        422,
        "invalid_instance",
    ),
    Case(
        "extra fields",
        b'{"instances": [[5.1, 3.5, 1.4, 0.2]], "debug": true}',
        "application/json",
        422,
        "invalid_instance",
    ),
    Case("empty body", b"", "application/json", 400, "malformed_json"),
    Case("empty instances", b'{"instances": []}', "application/json", 422, "invalid_instance"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_body(lab2, case):
    got, headers, reply = post(lab2.settings.lab2_port, case.body, case.ctype)
    assert got == case.status, reply[:300]
    assert headers["content-type"].startswith("application/json")
    assert json.loads(reply)["error"]["code"] == case.code


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /_errors/400.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ],
    ids=[
        "garbage request line",
        "huge header",
        "negative content length",
        "NUL in the path",
        "the proxy's internal error pages",
    ],
)
def test_malformed_http_is_a_4xx(lab2, request_bytes):
    status, headers, body = raw(lab2.settings.lab2_port, request_bytes)
    assert 400 <= status < 500
    assert headers.get("content-type", "").startswith("application/json"), body[:200]


def _request_line_and_headers(method: str, path: str, headers: list[str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: x", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# What nginx answers itself, as JSON, before gunicorn (whose own answers would be HTML)
# could see it: its limits are the stricter ones (proxy/nginx.conf, app/gunicorn_conf.py).
EDGE_CASES = [
    ("made-up method", "QWERTYUIOPAS", "/predict", [], 405, "method_not_allowed"),
    ("PUT", "PUT", "/predict", [], 405, "method_not_allowed"),
    ("OPTIONS", "OPTIONS", "/predict", [], 405, "method_not_allowed"),
    ("metrics are not public", "GET", "/metrics", [], 404, "not_found"),
    ("request line past gunicorn's 4094 bytes", "GET", "/" + "a" * 4100, [], 414, "uri_too_long"),
    ("request line just past nginx's 2 KiB", "GET", "/" + "a" * 2100, [], 414, "uri_too_long"),
    (
        "header line past nginx's 2 KiB",
        "GET",
        "/healthz",
        ["X-A: " + "a" * 2100],
        400,
        "bad_request",
    ),
    ("3,000 headers", "GET", "/healthz", [f"X-{i}: 1" for i in range(3000)], 400, "bad_request"),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "headers", "status", "code"),
    EDGE_CASES,
    ids=[case[0] for case in EDGE_CASES],
)
def test_limits_and_methods_are_nginx_json(lab2, name, method, path, headers, status, code):
    got, reply_headers, body = raw(
        lab2.settings.lab2_port, _request_line_and_headers(method, path, headers)
    )
    assert got == status, body[:300]
    assert reply_headers["content-type"].startswith("application/json"), body[:300]
    assert json.loads(body)["error"]["code"] == code
    if status == 405:
        assert reply_headers["allow"] == "GET, HEAD, POST"


INFER = "/v2/models/iris-classifier/infer"
# The same answers of nginx's under /v2: the Open Inference Protocol's {"error": "..."},
# which tritonclient reads as the message (a {code, message} object would reach it as a
# dict). Each is the message the API's shape gives for that status.
V2_EDGE_CASES = [
    ("made-up method", "QWERTYUIOPAS", INFER, [], 405, "use GET, HEAD or POST"),
    ("DELETE", "DELETE", "/v2", [], 405, "use GET, HEAD or POST"),
    ("header line past 2 KiB", "GET", "/v2/health/ready", ["X-A: " + "a" * 2100], 400, "2 KiB"),
    ("body over 256 KiB", "POST", INFER, [f"Content-Length: {300 * 1024}"], 413, "256 KiB"),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "headers", "status", "words"),
    V2_EDGE_CASES,
    ids=[case[0] for case in V2_EDGE_CASES],
)
def test_nginx_answers_v2_in_the_protocols_error_shape(
    lab2, name, method, path, headers, status, words
):
    got, reply_headers, body = raw(
        lab2.settings.lab2_port, _request_line_and_headers(method, path, headers)
    )
    assert got == status, body[:300]
    assert reply_headers["content-type"].startswith("application/json"), body[:300]
    error = json.loads(body)["error"]
    assert isinstance(error, str) and words in error, body[:300]


def test_outside_v2_nginx_keeps_the_apis_error_shape(lab2):
    """/v2x is not the protocol: the map matches /v2 and what is under it only. And a
    request line too long to read has no path to tell by: the API's shape (documented)."""
    port = lab2.settings.lab2_port
    got, _, body = raw(port, _request_line_and_headers("DELETE", "/v2x", []))
    assert got == 405 and json.loads(body)["error"]["code"] == "method_not_allowed"
    got, _, body = raw(port, _request_line_and_headers("GET", "/v2/models/" + "a" * 2100, []))
    assert got == 414 and json.loads(body)["error"]["code"] == "uri_too_long"


def test_what_nginx_lets_through_gunicorn_takes(lab2):
    """Just under nginx's limits: 60 headers (gunicorn once refused more than 50), a long
    path: gunicorn accepts them and the app answers, as JSON."""
    headers = [f"X-{i}: {'a' * 60}" for i in range(60)]
    got, _, body = raw(
        lab2.settings.lab2_port, _request_line_and_headers("GET", "/healthz", headers)
    )
    assert got == 200 and json.loads(body) == {"status": "ok"}
    got, _, body = raw(
        lab2.settings.lab2_port, _request_line_and_headers("GET", "/" + "a" * 1900, [])
    )
    assert got == 404 and json.loads(body)["error"]["code"] == "not_found"


CHUNKED_TO_GUNICORN = """
import http.client, json
body = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode() + b" " * 300000
connection = http.client.HTTPConnection("127.0.0.1", 8080, timeout=10)
connection.putrequest("POST", "/predict")
connection.putheader("Content-Type", "application/json")
connection.putheader("Transfer-Encoding", "chunked")
connection.endheaders()
try:  # gunicorn may answer 413 and close before the whole body is sent
    for start in range(0, len(body), 65536):
        chunk = body[start:start + 65536]
        connection.send(b"%x\\r\\n" % len(chunk) + chunk + b"\\r\\n")
    connection.send(b"0\\r\\n\\r\\n")
except OSError:
    pass
reply = connection.getresponse()
print(reply.status, reply.read().decode())
"""


def test_an_oversized_chunked_body_straight_to_gunicorn_is_413(lab2):
    """Past nginx (which refuses it too): gunicorn hands the app a chunked body, which
    werkzeug would cut at the limit; the app refuses it whole instead."""
    result = lab2.exec("serving", "python", "-c", CHUNKED_TO_GUNICORN, check=False)
    status, _, body = result.stdout.partition(" ")
    assert status == "413", result.stdout + result.stderr
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def test_the_stack_still_answers_after_all_that(lab2):
    assert lab2.get_json("/readyz")["status"] == "ready"
