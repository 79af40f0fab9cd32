"""Property-based hostile input (hypothesis): whatever arrives, /predict never answers 5xx.

Over 1,000 generated requests: structured JSON bodies built around the API's shape,
arbitrary JSON documents, and arbitrary bytes under arbitrary content types.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from app.validation import FEATURE_MAX, FEATURE_MIN

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLIENT_ERRORS = {400, 413, 415, 422}
OUTCOMES: set[int] = set()  # statuses seen by test_api_shaped_bodies


def budget(examples: int) -> settings:
    """A fixed, repeatable run of `examples` generated requests."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
        database=None,
    )


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**400), 10**400)
sane = st.floats(min_value=0, max_value=10)
instances = st.one_of(
    st.lists(sane, min_size=4, max_size=4),
    st.fixed_dictionaries(dict.fromkeys(FEATURES, sane)),
    st.lists(numbers | scalars, min_size=0, max_size=6),
    st.dictionaries(
        st.sampled_from([*FEATURES, "petal_colour", ""]), numbers | scalars, max_size=6
    ),
    json_documents,
)
api_bodies = st.fixed_dictionaries(
    {"instances": st.lists(instances, max_size=12)},
    optional={"extra": scalars},
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "text/plain",
        "application/xml",
        "",
    ]
)


@pytest.fixture(scope="module")
def client(tmp_path_factory, publish_as_training, trusted_dir):
    registry = tmp_path_factory.mktemp("hostile-registry")
    publish_as_training(registry)
    app = create_app(
        {
            "registry": registry,
            "trusted_keys": trusted_dir,
            "reload_interval_s": 0,
            "log_requests": False,
        }
    )
    assert app.extensions["model_store"].version == "v1"
    return app.test_client()


def check(response, sent_instances=None):
    assert response.status_code == 200 or response.status_code in CLIENT_ERRORS, (
        response.status_code,
        response.data[:300],
    )
    assert response.mimetype == "application/json"
    body = response.get_json()
    if response.status_code == 200:
        assert sent_instances is not None
        assert len(body["predictions"]) == len(sent_instances)
    else:
        assert set(body["error"]) == {"code", "message"}


def _valid(instance) -> bool:
    def allowed(value):
        return FEATURE_MIN <= value <= FEATURE_MAX  # NaN compares false

    if isinstance(instance, list):
        values = instance if len(instance) == 4 else None
    elif isinstance(instance, dict):
        values = [instance[f] for f in FEATURES] if set(instance) == set(FEATURES) else None
    else:
        values = None
    return values is not None and all(type(v) in (int, float) and allowed(v) for v in values)


@budget(500)
@given(body=api_bodies)
def test_api_shaped_bodies(client, body):
    response = client.post("/predict", data=json.dumps(body), content_type="application/json")
    check(response, body["instances"])
    OUTCOMES.add(response.status_code)
    expected_ok = "extra" not in body and body["instances"] and all(map(_valid, body["instances"]))
    assert (response.status_code == 200) == bool(expected_ok), (body, response.data[:200])


def test_the_api_shaped_run_saw_both_answers_and_refusals():
    """Guards the test above against going vacuous: it must have seen 200s and 4xx."""
    assert 200 in OUTCOMES and OUTCOMES & CLIENT_ERRORS, OUTCOMES


@budget(300)
@given(document=json_documents)
def test_any_json_document(client, document):
    response = client.post("/predict", data=json.dumps(document), content_type="application/json")
    check(response, document.get("instances") if isinstance(document, dict) else None)


@budget(300)
@given(payload=st.binary(max_size=400), content_type=content_types)
def test_any_bytes_under_any_content_type(client, payload, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/predict", data=payload, headers=headers)
    assert response.status_code in CLIENT_ERRORS, (response.status_code, response.data[:300])
    check(response)
