"""Run inside a container: try TCP connections to the given host:port targets.

Prints one JSON object: {"targets": {target: "open" | "blocked" | what else happened}}.
"blocked" is only what network isolation looks like: no route to the network, or no
answer at all (a timeout). Anything else (refused: the host is there but the port is
closed; a name that does not resolve) is reported as is, and is not "blocked".
The targets are the labs' own containers on this machine, never anything outside it.
"""

import errno
import json
import socket
import sys

ISOLATED = {errno.ENETUNREACH, errno.EHOSTUNREACH}


def outcome(error: OSError) -> str:
    """How one failed attempt reads: blocked, or what else went wrong."""
    if isinstance(error, TimeoutError | socket.timeout) or error.errno in ISOLATED:
        return "blocked"
    return type(error).__name__


def attempt(target):
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return "open"
    except OSError as exc:
        return outcome(exc)


# Run as a script inside a container (`python -c`, so __main__); imported by the tests.
if __name__ == "__main__":
    print(json.dumps({"targets": {target: attempt(target) for target in sys.argv[1:]}}))
