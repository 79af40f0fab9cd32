"""Run inside a container: try TCP connections to the given host:port targets.

Prints one JSON object: {"targets": {target: "open" | reason}}.
The targets are the labs' own containers on this machine, never anything outside it.
"""

import json
import socket
import sys


def attempt(target):
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return "open"
    except OSError as exc:
        return type(exc).__name__


print(json.dumps({"targets": {target: attempt(target) for target in sys.argv[1:]}}))
