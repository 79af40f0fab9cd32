"""The framework ceiling of `inv bench`: the same gunicorn configuration and Flask as the
serving image, behind the same nginx, answering a constant JSON. No model, no validation,
no metrics, no request log: what is left is the HTTP path itself (docker-proxy, nginx,
gunicorn's sync workers, Flask's routing and JSON response). Serving's distance from it is
the cost of the app's own work.
"""

from flask import Flask

ANSWER = {"predictions": [{"label": 0, "class_name": "setosa"}], "model_version": "v0"}


def create_app() -> Flask:
    """A Flask app with serving's routes the stack and the bench touch, each a constant."""
    app = Flask(__name__)

    @app.post("/predict")
    def predict():
        """Answer a constant prediction, whatever the body."""
        return ANSWER

    @app.get("/healthz")
    @app.get("/readyz")
    def ready():
        """Always ready: there is no model to wait for."""
        return {"status": "ready"}

    return app
