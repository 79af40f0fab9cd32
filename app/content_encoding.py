"""Request bodies are read as sent: a Content-Encoding other than identity gets a JSON 415.

Nothing here decodes gzip, deflate or br. Ignoring the header would parse the
compressed bytes as if they were the body, so the request is refused instead.
"""

from __future__ import annotations

from flask import Flask, request

from app.errors import APIError

HEADER = "Content-Encoding"
# The only coding accepted: none (RFC 9110's "identity"), however it is spelled.
IDENTITY = "identity"


def check(value: str) -> None:
    """Refuse a Content-Encoding header value unless it names no coding but identity."""
    codings = [coding.strip().lower() for coding in value.split(",") if coding.strip()]
    if any(coding != IDENTITY for coding in codings):
        raise APIError(
            415,
            "unsupported_media_type",
            f"{HEADER} {value[:40]!r} is not supported; send the body unencoded",
        )


def register(app: Flask) -> None:
    """Check every request's Content-Encoding before its route runs."""

    @app.before_request
    def _refuse_encoded_bodies() -> None:
        check(request.headers.get(HEADER, ""))
