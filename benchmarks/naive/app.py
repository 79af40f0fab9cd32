"""The classic lab's serving: Flask's development server, form fields, one flower at a time.

Kept only as the baseline of `inv bench`. It loads the model the registry's LATEST
names, without verifying anything, and answers with the predicted species.
"""

import os

import joblib
from flask import Flask, jsonify, request

REGISTRY = os.environ.get("MODEL_REGISTRY", "/registry")
NAME = "iris-classifier"
CLASSES = ["setosa", "versicolor", "virginica"]
FIELDS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

with open(os.path.join(REGISTRY, NAME, "LATEST")) as latest:
    model = joblib.load(os.path.join(REGISTRY, NAME, latest.read().strip(), "model.joblib"))

app = Flask(__name__)


@app.route("/predict", methods=["POST"])
def predict():
    features = [[float(request.form[field]) for field in FIELDS]]
    return jsonify(prediction=CLASSES[int(model.predict(features)[0])])


@app.route("/healthz")
def healthz():
    return "ok"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)  # noqa: S104 - inside its container, on purpose
