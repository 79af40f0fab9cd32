"""How many bytes a build fetches: an HTTP CONNECT proxy that counts what it relays.

A build is pointed at it with the build argument HTTPS_PROXY (BuildKit hands the
predefined proxy arguments to every RUN without making them part of the cache key);
pip and uv send their downloads through it. It listens on the address of the engine's
bridge only (reachable from the build containers and this machine, nothing else) and
relays to the host and port each CONNECT names; TLS stays end to end.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
from dataclasses import dataclass, field

_CONNECT = re.compile(rb"^CONNECT ([^\s:]+):(\d+) HTTP/1\.[01]\r?\n")


def bridge_address(interface: str = "docker0") -> str:
    """The IPv4 address of the engine's bridge on this machine, e.g. 172.17.0.1."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", interface],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    match = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    if not match:
        raise RuntimeError(f"no IPv4 address on {interface}: is the Docker engine local?")
    return match.group(1)


@dataclass
class FetchMeter:
    """Counts the bytes relayed from servers to clients (downloads) while it runs."""

    host: str
    port: int = 0
    downloaded: int = 0
    uploaded: int = 0
    tunnels: int = 0
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _stop: asyncio.Event | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.downloaded = self.uploaded = self.tunnels = 0

    async def _pipe(self, reader, writer, downstream: bool) -> None:
        try:
            while chunk := await reader.read(1 << 16):
                with self._lock:
                    if downstream:
                        self.downloaded += len(chunk)
                    else:
                        self.uploaded += len(chunk)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer) -> None:
        """One client's tunnel. Cut short when the meter closes: Python 3.11's streams then
        print the task's CancelledError as a traceback, so it ends here, quietly."""
        try:
            await self._tunnel(client_reader, client_writer)
        except asyncio.CancelledError:
            client_writer.close()

    async def _tunnel(self, client_reader, client_writer) -> None:
        try:
            head = await client_reader.readuntil(b"\r\n\r\n")
            match = _CONNECT.match(head)
            if not match:
                client_writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            target, port = match.group(1).decode(), int(match.group(2))
            server_reader, server_writer = await asyncio.open_connection(target, port)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            client_writer.close()
            return
        with self._lock:
            self.tunnels += 1
        client_writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await client_writer.drain()
        await asyncio.gather(
            self._pipe(client_reader, server_writer, downstream=False),
            self._pipe(server_reader, client_writer, downstream=True),
        )

    def __enter__(self) -> FetchMeter:
        started = threading.Event()
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()

        async def serve() -> None:
            server = await asyncio.start_server(self._handle, self.host, self.port)
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            async with server:
                await stop.wait()
            # Tunnels still open (a client that has not hung up yet) end with the meter.
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._loop, self._stop = loop, stop
        self._thread = threading.Thread(
            target=loop.run_until_complete, args=(serve(),), name="fetch-meter", daemon=True
        )
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the fetch meter did not start")
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        if self._loop is not None:
            self._loop.close()
