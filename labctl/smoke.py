"""`inv smoke`: black-box checks of a running serving stack, over HTTP only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

TIMEOUT_S = 10

# Flowers far from the class boundaries: any sane model gets them right.
KNOWN = [
    ([5.1, 3.5, 1.4, 0.2], "setosa"),
    ([5.9, 2.8, 4.3, 1.3], "versicolor"),
    ([6.3, 3.3, 6.0, 2.5], "virginica"),
]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass(frozen=True)
class Outcome:
    name: str
    ok: bool
    detail: str


class CheckFailed(Exception):
    """A smoke check saw something other than what it expects."""


def request(url: str, method: str = "GET", body: bytes | None = None, ctype: str = "") -> Reply:
    """One HTTP request; an HTTP error status is a Reply too, not an exception."""
    headers = {"Content-Type": ctype} if ctype else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as response:  # noqa: S310
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


def post_json(url: str, document) -> Reply:
    return request(url, "POST", json.dumps(document).encode(), "application/json")


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _json_error(reply: Reply, status: int) -> str:
    expect(reply.status == status, f"status {reply.status}, expected {status}")
    expect(
        reply.headers.get("Content-Type", "").startswith("application/json"),
        f"Content-Type {reply.headers.get('Content-Type')!r} is not JSON",
    )
    error = reply.json().get("error", {})
    expect({"code", "message"} <= set(error), f"no error code/message in {reply.body[:120]!r}")
    return f"{status} {error['code']}"


def checks(base: str) -> list[tuple[str, Callable[[], str]]]:
    """(name, check) pairs; a check returns a detail line or raises CheckFailed."""
    base = base.rstrip("/")

    def liveness():
        reply = request(f"{base}/healthz")
        expect(reply.status == 200 and reply.json() == {"status": "ok"}, f"got {reply.status}")
        return "200 ok"

    def readiness():
        reply = request(f"{base}/readyz")
        expect(reply.status == 200, f"status {reply.status}: {reply.body[:200]!r}")
        model = reply.json()["model"]
        return f"ready, model version {model['version']} on {model.get('runtime', '?')}"

    def page():
        reply = request(f"{base}/")
        text = reply.body.decode("utf-8", "replace")
        expect(reply.status == 200, f"status {reply.status}")
        expect(reply.headers.get("Content-Type", "").startswith("text/html"), "not HTML")
        expect("<form" in text and all(f'name="{f}"' in text for f in FEATURES), "no form")
        expect(
            "http://" not in text and "https://" not in text, "the page loads something external"
        )
        for asset in ("/static/style.css", "/static/img/setosa.svg"):
            expect(request(base + asset).status == 200, f"{asset} missing")
        return "form, stylesheet and pictures served, nothing external"

    def single():
        features, species = KNOWN[2]
        reply = post_json(
            f"{base}/predict", {"instances": [dict(zip(FEATURES, features, strict=True))]}
        )
        expect(reply.status == 200, f"status {reply.status}: {reply.body[:200]!r}")
        got = reply.json()["predictions"][0]
        expect(got["class_name"] == species, f"predicted {got['class_name']}, expected {species}")
        expect(abs(sum(got["probabilities"].values()) - 1) < 1e-6, "probabilities do not sum to 1")
        return f"named features -> {species}"

    def batch():
        reply = post_json(f"{base}/predict", {"instances": [f for f, _ in KNOWN]})
        expect(reply.status == 200, f"status {reply.status}")
        got = [p["class_name"] for p in reply.json()["predictions"]]
        expect(got == [s for _, s in KNOWN], f"predicted {got}")
        return f"{len(KNOWN)} rows -> {', '.join(got)}"

    def form():
        fields = "&".join(f"{n}={v}" for n, v in zip(FEATURES, KNOWN[0][0], strict=True))
        reply = request(
            f"{base}/predict", "POST", fields.encode(), "application/x-www-form-urlencoded"
        )
        expect(reply.status == 200, f"status {reply.status}")
        expect(reply.json()["predictions"][0]["class_name"] == "setosa", "wrong class")
        return "classic form fields -> setosa"

    def bad_inputs():
        url = f"{base}/predict"
        seen = [
            _json_error(request(url, "POST", b"{not json", "application/json"), 400),
            _json_error(request(url, "POST", b"5.1,3.5", "text/csv"), 415),
            _json_error(post_json(url, {"instances": [[1, 2, 3]]}), 422),
            _json_error(
                request(url, "POST", b'{"instances": [[NaN, 1, 1, 1]]}', "application/json"), 422
            ),
            _json_error(post_json(url, {"instances": [["5.1", 3.5, 1.4, 0.2]]}), 422),
            _json_error(request(f"{base}/no-such-page"), 404),
            _json_error(request(url), 405),
        ]
        return ", ".join(seen)

    def model_version():
        ready = request(f"{base}/readyz").json()["model"]["version"]
        metadata = request(f"{base}/model").json()
        expect(metadata["version"] == ready, f"/model says {metadata['version']}, /readyz {ready}")
        expect(len(metadata["artifact"]["sha256"]) == 64, "no sha256 in the metadata")
        answered = post_json(f"{base}/predict", {"instances": [KNOWN[0][0]]}).json()["model"]
        expect(answered["version"] == ready, f"answered by {answered['version']}")
        return f"{metadata['name']} {ready}, sha256 {metadata['artifact']['sha256'][:12]}…"

    def metrics():
        # For a Prometheus on the internal network only: `inv metrics` shows them.
        return _json_error(request(f"{base}/metrics"), 404) + " (internal only)"

    def headers():
        reply = request(f"{base}/healthz")
        for name in (
            "Content-Security-Policy",
            "X-Content-Type-Options",
            "X-Frame-Options",
            "X-Request-ID",
        ):
            expect(name in reply.headers, f"{name} missing")
        return "CSP, nosniff, frame denial, request id"

    return [
        ("liveness", liveness),
        ("readiness", readiness),
        ("web page", page),
        ("single prediction", single),
        ("batch prediction", batch),
        ("classic form fields", form),
        ("bad inputs rejected with 4xx JSON", bad_inputs),
        ("model version reported", model_version),
        ("metrics not public", metrics),
        ("security headers", headers),
    ]


def unreachable(base: str) -> str | None:
    """None when something answers HTTP at base, else why not (one line)."""
    try:
        request(f"{base.rstrip('/')}/healthz")
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return str(reason)
    return None


def run(base: str) -> list[Outcome]:
    """Run every check; one failing does not stop the others."""
    outcomes = []
    for name, check in checks(base):
        try:
            outcomes.append(Outcome(name, True, check()))
        except CheckFailed as exc:
            outcomes.append(Outcome(name, False, str(exc)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            outcomes.append(Outcome(name, False, f"{type(exc).__name__}: {exc}"))
    return outcomes
