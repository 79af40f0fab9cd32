"""The web page: a form for one flower's measurements, and the model's answer."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from app.errors import APIError
from app.model_store import ServedModel, get_store
from app.prediction import predict
from app.validation import FEATURE_MAX, FEATURE_MIN, instance_from_form

bp = Blueprint("web", __name__)

# What the form shows first: a typical versicolor.
EXAMPLE = {"sepal_length": 6.0, "sepal_width": 2.9, "petal_length": 4.5, "petal_width": 1.5}
LABELS = {
    "sepal_length": "Sepal length (cm)",
    "sepal_width": "Sepal width (cm)",
    "petal_length": "Petal length (cm)",
    "petal_width": "Petal width (cm)",
}


def _page(
    served: ServedModel | None,
    values: dict,
    result: dict | None = None,
    error: str | None = None,
    status: int = 200,
):
    """Render the page for the model the request read (once: a swap may happen meanwhile)."""
    fields = [
        {"name": name, "label": LABELS.get(name, name), "value": values.get(name, "")}
        for name in (served.feature_names if served else EXAMPLE)
    ]
    html = render_template(
        "index.html",
        fields=fields,
        result=result,
        error=error,
        model=served,
        not_ready=get_store().not_ready_reason if served is None else None,
        feature_min=f"{FEATURE_MIN:g}",
        feature_max=f"{FEATURE_MAX:g}",
    )
    return html, status


@bp.get("/")
def index():
    """Show the form, filled with example measurements."""
    return _page(get_store().current, dict(EXAMPLE))


@bp.post("/")
def classify():
    """Classify the flower the form describes and show the answer."""
    values = {key: value[:40] for key, value in request.form.items()}
    served = get_store().current
    if served is None:
        return _page(
            None, values, error="No model is loaded yet; try again in a moment.", status=503
        )
    try:
        answer = predict(served, instance_from_form(request.form, served.feature_names))
    except APIError as exc:
        return _page(served, values, error=exc.message, status=exc.status)
    prediction = answer["predictions"][0]
    result = {
        "species": prediction["class_name"],
        "probabilities": sorted(
            prediction["probabilities"].items(), key=lambda item: item[1], reverse=True
        ),
        "version": answer["model"]["version"],
    }
    return _page(served, values, result=result)
