"""Lab 2's serving app: a Flask application factory (gunicorn runs 'app:create_app()').

The factory imports what it builds from, as Flask's tutorial does: importing the
package runs nothing and loads nothing heavy, so gunicorn's master can take the JSON
log formatter (app.logging_setup) before the metrics directory exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: settings from the environment (test_config overrides), model, routes."""
    from dataclasses import replace

    from flask import Flask

    from app import (
        content_encoding,
        errors,
        logging_setup,
        model_store,
        request_log,
        security_headers,
    )
    from app.json_provider import OrjsonProvider
    from app.routes import api, docs, health, web
    from app.routes import metrics as metrics_routes
    from app.routes import v2 as v2_routes
    from app.settings import ServingSettings

    settings = ServingSettings.from_env()
    if test_config:
        settings = replace(settings, **test_config)
    logging_setup.configure()

    # The static route is added below, once PROVIDE_AUTOMATIC_OPTIONS is off for it too.
    app = Flask(__name__, static_folder=None)
    # A path with "//" inside is matched as it is (a 404 where no route takes it), not
    # redirected by werkzeug with an HTML 308 to the path with the slashes merged: every
    # answer stays JSON, under /v2 the protocol's. Set before any rule is added: a rule
    # takes the setting when it is bound.
    app.url_map.merge_slashes = False
    app.config.from_mapping(
        # The one settings object; every part of the app reads it from here.
        SETTINGS=settings,
        # werkzeug answers 413 to a larger body before the app reads it.
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        TESTING=bool(test_config),
        # No automatic OPTIONS answer (an empty 200 HTML body): OPTIONS gets the JSON
        # 405 with an Allow header, like any method a route does not take.
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )
    app.static_folder = "static"
    app.add_url_rule(
        f"{app.static_url_path}/<path:filename>", "static", view_func=app.send_static_file
    )
    # Answers are compact JSON, keys in the order the code builds them, encoded fast.
    app.json = OrjsonProvider(app)

    model_store.init_app(app, settings)

    for blueprint in (api.bp, health.bp, metrics_routes.bp, web.bp, docs.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(v2_routes.bp)  # the Open Inference Protocol under /v2
    errors.register(app)
    request_log.register(app)
    content_encoding.register(app)
    security_headers.register(app)
    return app
