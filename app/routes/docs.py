"""The API's description: GET /openapi.json (OpenAPI 3.1) and GET /docs (Swagger UI)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template, request, send_file, url_for

from app import openapi
from app.errors import APIError
from app.security_headers import content_security_policy

bp = Blueprint("docs", __name__)

# Swagger UI's two browser files, as its package ships them in swagger_ui/static/ and
# the serving image copies them into the DOCS_ASSETS folder (docker/serving.Dockerfile).
# Their media types are fixed here, not guessed from the host's tables: with nosniff a
# browser runs a script only if it is sent as JavaScript.
BUNDLE, STYLESHEET = "swagger-ui-bundle.js", "swagger-ui.css"
ASSETS = {BUNDLE: "text/javascript", STYLESHEET: "text/css"}
# A year: a URL that carries the file's digest names those bytes forever.
IMMUTABLE = "public, max-age=31536000, immutable"
# /docs is the one page that runs a script (Swagger UI). Its policy, on the page and its
# files, allows what that needs and no more, all of it from this origin only; the rest
# of the site keeps security_headers.HEADERS' strict one.
POLICY = "; ".join(
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


@functools.lru_cache(maxsize=8)
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    """The first 16 hex digits of the file's sha256 (size and mtime key the cache)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def asset_digest(path: Path) -> str | None:
    """The digest that versions an asset's URL, or None when the file is missing."""
    try:
        info = path.stat()
    except OSError:
        return None
    return _digest(path, info.st_size, info.st_mtime_ns)


def _assets_folder() -> Path:
    return current_app.config["SETTINGS"].docs_assets


@bp.get("/openapi.json")
def openapi_document():
    """Describe the API as the running app checks it: OpenAPI 3.1, built per request."""
    return jsonify(openapi.document(current_app))


@bp.get("/docs")
@content_security_policy(POLICY)
def page():
    """Show the API's description, rendered by Swagger UI from /openapi.json."""
    folder = _assets_folder()
    digests = {name: asset_digest(folder / name) for name in ASSETS}
    missing = [name for name, digest in digests.items() if digest is None]
    if missing:
        # An image built without them, or DOCS_ASSETS pointing elsewhere: the document
        # itself is still at /openapi.json.
        raise APIError(
            503,
            "docs_unavailable",
            f"the docs page needs Swagger UI's {', '.join(missing)} in {folder} "
            "(DOCS_ASSETS); the API's description is at /openapi.json",
        )
    return render_template(
        "docs.html",
        bundle=url_for("docs.asset", name=BUNDLE, v=digests[BUNDLE]),
        stylesheet=url_for("docs.asset", name=STYLESHEET, v=digests[STYLESHEET]),
    )


@bp.get("/docs/<name>")
@content_security_policy(POLICY)
def asset(name: str):
    """Send one of Swagger UI's files; cached for good when the URL names its digest."""
    if name not in ASSETS:  # the package's other files are not served
        raise APIError(404, "not_found", f"no such file: /docs/{name[:80]}")
    path = _assets_folder() / name
    digest = asset_digest(path)
    if digest is None:
        raise APIError(404, "not_found", f"{name} is not in the docs assets folder")
    # conditional: a browser holding an older copy gets 304 from its ETag.
    response = send_file(path, mimetype=ASSETS[name], conditional=True, etag=True, max_age=None)
    if request.args.get("v") == digest:
        response.headers["Cache-Control"] = IMMUTABLE
    else:
        # An unversioned (or stale) URL may see other bytes after an upgrade: ask again.
        response.headers["Cache-Control"] = "no-cache"
    return response
