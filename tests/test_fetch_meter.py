"""The bench's fetch meter relays CONNECT tunnels and counts the bytes that come down."""

from __future__ import annotations

import http.server
import socket

import pytest

from labctl.bench.fetch_meter import FetchMeter
from tests.http_stub import serve

BODY = b"x" * 300_000


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


@pytest.fixture
def origin():
    with serve(_Handler) as port:
        yield port


def _through(meter: FetchMeter, port: int) -> bytes:
    with socket.create_connection((meter.host, meter.port), timeout=10) as tunnel:
        tunnel.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert tunnel.recv(1024).startswith(b"HTTP/1.1 200")
        tunnel.sendall(b"GET / HTTP/1.0\r\n\r\n")
        received = b""
        while chunk := tunnel.recv(65536):
            received += chunk
    return received


def test_it_counts_what_comes_down_the_tunnel(origin):
    with FetchMeter("127.0.0.1") as meter:
        received = _through(meter, origin)
        assert received.endswith(BODY)
        assert meter.tunnels == 1
        assert meter.downloaded == len(received)
        assert 0 < meter.uploaded < 100
        meter.reset()
        assert meter.downloaded == meter.uploaded == meter.tunnels == 0


def test_anything_but_connect_is_refused(origin):
    with FetchMeter("127.0.0.1") as meter, socket.create_connection((meter.host, meter.port)) as s:
        s.sendall(f"GET http://127.0.0.1:{origin}/ HTTP/1.1\r\n\r\n".encode())
        assert s.recv(1024).startswith(b"HTTP/1.1 405")
        assert meter.downloaded == 0


def test_uv_s_summary_line_tells_how_many_packages_it_downloaded():
    from labctl.bench.images import packages_prepared

    log = "#9 1.2 Resolved 31 packages in 3ms\n#9 1.9 Prepared 1 package in 402ms\n"
    assert packages_prepared(log) == 1
    assert packages_prepared("#9 3.1 Prepared 31 packages in 2.10s\n") == 31
    assert packages_prepared("#9 CACHED\n") == 0
