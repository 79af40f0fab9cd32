"""Security headers on every response: no sniffing, no framing, nothing from elsewhere;
and API answers kept out of caches. The one place for both: a view that needs another
Content-Security-Policy declares it beside its route (content_security_policy)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, request

HEADERS = {
    # The page loads only its own CSS and pictures: no inline code, no CDN.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# The media types of API answers: JSON, and the Open Inference Protocol's binary tensor
# data. Each is one request's answer, never to be stored by a cache, the browser's
# included (a route that means otherwise sets its own Cache-Control).
NO_STORE_TYPES = ("application/json", "application/octet-stream")
# Where a view keeps the policy it declares (content_security_policy).
_POLICY_ATTRIBUTE = "content_security_policy"


def content_security_policy(policy: str) -> Callable[[Callable], Callable]:
    """A view decorator: the view's answers carry policy instead of HEADERS' strict one."""

    def declare(view: Callable) -> Callable:
        setattr(view, _POLICY_ATTRIBUTE, policy)
        return view

    return declare


def register(app: Flask) -> None:
    """Add the headers to every response, and keep API answers out of caches."""

    @app.after_request
    def _secure(response):
        view = app.view_functions.get(request.endpoint or "")
        policy = getattr(view, _POLICY_ATTRIBUTE, None)
        if policy is not None:
            response.headers["Content-Security-Policy"] = policy
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if response.mimetype in NO_STORE_TYPES:
            response.headers.setdefault("Cache-Control", "no-store")
        return response
