"""Security headers on every response: no sniffing, no framing, nothing from elsewhere."""

from __future__ import annotations

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

# /docs is the one page that runs a script (Swagger UI). Its policy allows what that
# needs and no more, all of it from this origin only:
DOCS_POLICY = "; ".join(
    [
        "default-src 'none'",
        # swagger-ui-bundle.js and the page's starter, /static/docs.js: files, no inline code.
        "script-src 'self'",
        # swagger-ui.css. Swagger UI sets element styles through the DOM, which needs no
        # 'unsafe-inline'.
        "style-src 'self'",
        # The page's icon; swagger-ui.css draws its arrows and locks as data: images.
        "img-src 'self' data:",
        # Swagger UI fetches /openapi.json; "Try it out" calls this origin's API.
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
# The only endpoints whose policy is not HEADERS' strict one: the docs page and its
# Swagger UI files (app/routes/docs.py).
POLICY_OVERRIDES = {"docs.page": DOCS_POLICY, "docs.asset": DOCS_POLICY}


def register(app: Flask) -> None:
    """Add the headers to every response, and keep API answers out of caches."""

    @app.after_request
    def _secure(response):
        policy = POLICY_OVERRIDES.get(request.endpoint or "")
        if policy is not None:
            response.headers["Content-Security-Policy"] = policy
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if response.mimetype == "application/json":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
