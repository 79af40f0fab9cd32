"""Property-based hostile input (hypothesis): whatever arrives, /predict never answers 5xx.

Over 1,000 generated requests: structured JSON bodies built around the API's shape (NaN
and infinities inside otherwise valid rows among them), arbitrary JSON documents, and
arbitrary bytes under arbitrary content types.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from app.model_store import get_store
from app.validation import FEATURE_MAX, FEATURE_MIN

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLIENT_ERRORS = {400, 413, 415, 422}


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
valid_instances = st.lists(sane, min_size=4, max_size=4) | st.fixed_dictionaries(
    dict.fromkeys(FEATURES, sane)
)


@st.composite
def poisoned_instances(draw):
    """A valid instance (a list or an object) with NaN or ±inf in one or more features."""
    row = draw(st.lists(sane, min_size=4, max_size=4))
    for place in draw(st.sets(st.integers(0, 3), min_size=1)):
        row[place] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    return row if draw(st.booleans()) else dict(zip(FEATURES, row, strict=True))


instances = st.one_of(
    valid_instances,
    poisoned_instances(),
    st.lists(numbers | scalars, min_size=0, max_size=6),
    st.dictionaries(
        st.sampled_from([*FEATURES, "petal_colour", ""]), numbers | scalars, max_size=6
    ),
    json_documents,
)
api_bodies = st.fixed_dictionaries(
    {"instances": st.lists(instances, max_size=12)},
    optional={"extra": scalars},
) | st.fixed_dictionaries(
    # Valid rows with poisoned ones among them: the refusal must name the first.
    {"instances": st.lists(valid_instances | poisoned_instances(), min_size=1, max_size=12)}
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
    assert get_store(app).version == "v1"
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


def _values(instance) -> list | None:
    """The instance's values in feature order, when it has the API's shape; else None."""
    if isinstance(instance, list):
        return instance if len(instance) == 4 else None
    if isinstance(instance, dict):
        return [instance[f] for f in FEATURES] if set(instance) == set(FEATURES) else None
    return None


def _allowed(value) -> bool:
    return type(value) in (int, float) and FEATURE_MIN <= value <= FEATURE_MAX  # NaN: False


def _valid(instance) -> bool:
    values = _values(instance)
    return values is not None and all(map(_allowed, values))


def _non_finite_refusal(body) -> str | None:
    """The message a body of valid instances, some poisoned with NaN or ±inf, is refused
    with (the first poisoned instance and feature); None for any other body."""
    if "extra" in body or not body["instances"]:
        return None
    first = None
    for index, instance in enumerate(body["instances"]):
        values = _values(instance)
        if values is None:
            return None
        for place, value in enumerate(values):
            if _allowed(value):
                continue
            if type(value) is not float or math.isfinite(value):
                return None
            if first is None:
                first = f"instance {index}, {FEATURES[place]}: must be a finite number, got {value}"
    return first


def test_api_shaped_bodies(client):
    """Answered exactly when every instance is valid; NaN and ±inf refused by name."""
    outcomes: set[int] = set()
    named = []

    @budget(500)
    @given(body=api_bodies)
    def post(body):
        response = client.post("/predict", data=json.dumps(body), content_type="application/json")
        check(response, body["instances"])
        outcomes.add(response.status_code)
        expected_ok = (
            "extra" not in body and body["instances"] and all(map(_valid, body["instances"]))
        )
        assert (response.status_code == 200) == bool(expected_ok), (body, response.data[:200])
        message = _non_finite_refusal(body)
        if message is not None:
            error = response.get_json()["error"]
            assert error == {"code": "invalid_instance", "message": message}, body
            named.append(message)

    post()
    # The run must not go vacuous: it saw answers, refusals, and non-finite values named.
    assert 200 in outcomes and outcomes & CLIENT_ERRORS, outcomes
    assert len(named) >= 50, named


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
