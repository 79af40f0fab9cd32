"""The bulk check of plain numeric rows agrees with the row-by-row one, always; and a
NaN or an infinity inside an otherwise valid row is refused by name on both paths."""

from __future__ import annotations

import codecs
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import validation
from app.errors import APIError
from app.validation import (
    FEATURE_MAX,
    FEATURE_MIN,
    _row,
    instance_from_form,
    instances_from_json,
    parse_json_body,
    plain_rows,
)

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
MAX_BATCH = 100

values = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(10**400), 10**400)
    | st.booleans()
    | st.none()
    | st.text(max_size=4)
)
rows = st.lists(values, min_size=3, max_size=5) | st.dictionaries(
    st.sampled_from(FEATURES), values, max_size=4
)
plain = st.lists(
    st.floats(FEATURE_MIN, FEATURE_MAX) | st.integers(int(FEATURE_MIN), int(FEATURE_MAX)),
    min_size=4,
    max_size=4,
)
# Numbers around and beyond the allowed range, and its ends.
edges = st.lists(
    st.sampled_from([FEATURE_MIN, FEATURE_MAX, -0.0, -1e-300, 100.00000000000001, 1e308])
    | st.floats(-200, 200),
    min_size=4,
    max_size=4,
)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])


@st.composite
def poisoned(draw) -> tuple[list, int]:
    """A valid row with NaN or ±inf at one or more places; and the first such place."""
    row = draw(plain)
    places = draw(st.sets(st.integers(0, len(FEATURES) - 1), min_size=1))
    for place in places:
        row[place] = draw(non_finite)
    return row, min(places)


def row_by_row(instances):
    try:
        return np.asarray(
            [_row(instance, i, FEATURES) for i, instance in enumerate(instances)], dtype=np.float64
        )
    except APIError:
        return None


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(
    instances=st.lists(
        rows | plain | edges | poisoned().map(lambda case: case[0]), min_size=1, max_size=6
    )
)
def test_bulk_and_row_by_row_agree(instances):
    bulk, careful = plain_rows(instances, 4), row_by_row(instances)
    if bulk is not None:
        # Whatever the bulk check accepts, the careful one accepts with the same numbers.
        assert careful is not None and np.array_equal(bulk, careful)
    if careful is not None and all(type(instance) is list for instance in instances):
        # And valid lists are never left to the slow path.
        assert bulk is not None


@settings(max_examples=100, derandomize=True, database=None, deadline=None)
@given(instances=st.lists(plain, min_size=1, max_size=50))
def test_plain_batches_take_the_bulk_path(instances):
    assert plain_rows(instances, 4) is not None


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(
    batch=st.lists(plain, max_size=5),
    bad=poisoned(),
    where=st.integers(0, 5),
    as_object=st.booleans(),
)
def test_a_non_finite_value_in_a_valid_batch_is_refused_by_name(batch, bad, where, as_object):
    """Both paths refuse it: the bulk check leaves it to the row-by-row one (NaN compares
    false), which names the instance, the feature and the value as not finite."""
    row, place = bad
    index = min(where, len(batch))
    instance = dict(zip(FEATURES, row, strict=True)) if as_object else row
    instances = [*batch[:index], instance, *batch[index:]]
    assert plain_rows(instances, len(FEATURES)) is None
    with pytest.raises(APIError) as refused:
        instances_from_json({"instances": instances}, FEATURES, MAX_BATCH)
    assert (refused.value.status, refused.value.code) == (422, "invalid_instance")
    assert refused.value.message == (
        f"instance {index}, {FEATURES[place]}: must be a finite number, got {row[place]}"
    )


# Each refusal with its exact words: a reworded message is a change the API's users see.
ALL_FOUR = "sepal_length, sepal_width, petal_length, petal_width"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the request body is empty; send JSON"),
        (b" \r\n\t", "the request body is empty; send JSON"),
        (
            codecs.BOM_UTF8 + b'{"instances": []}',
            "the request body starts with a byte order mark; send UTF-8 without one",
        ),
        (
            '{"instances": []}'.encode("utf-16-le"),
            "the request body is not UTF-8 (it has NUL bytes: UTF-16 or UTF-32?)",
        ),
        (b'{"instances": ["\xff"]}', "the request body is not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "the JSON is nested too deeply"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a' in a JSON object; each key may appear once"),
    ],
)
def test_a_malformed_body_is_refused_in_so_many_words(body, message):
    with pytest.raises(APIError) as refused:
        parse_json_body(body)
    assert (refused.value.status, refused.value.code) == (400, "malformed_json")
    assert refused.value.message == message


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], 'the body must be an object: {"instances": [...]}'),
        ({"instances": {}}, '"instances" must be a list of instances'),
        ({"instances": []}, '"instances" is empty: send at least one instance'),
        ({"rows": []}, "unknown field 'rows': the body is {\"instances\": [...]}"),
        ({"instances": [[1, 2, 3]]}, f"instance 0: expected 4 values ({ALL_FOUR}), got 3"),
        (
            {"instances": [{"petal_colour": 1}]},
            f"instance 0: unknown feature 'petal_colour'; expected {ALL_FOUR}",
        ),
        (
            {"instances": [[1, 2, 3, 4], 5]},
            "instance 1: expected a list of 4 numbers or an object of named features, got int",
        ),
        (
            {"instances": ["5.1"]},
            "instance 0: expected a list of 4 numbers or an object of named features, got a string",
        ),
        ({"instances": [[1, 2, 3, None]]}, "instance 0, petal_width: expected a number, got null"),
    ],
)
def test_an_invalid_payload_is_refused_in_so_many_words(payload, message):
    with pytest.raises(APIError) as refused:
        instances_from_json(payload, FEATURES, MAX_BATCH)
    assert (refused.value.status, refused.value.code) == (422, "invalid_instance")
    assert refused.value.message == message


LONG = "x" * 50


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"sepal_length": "1", "z": "1"},
            f"unknown form field 'z'; expected {ALL_FOUR}",
        ),
        (
            {"sepal_length": LONG},
            f"form field 'sepal_length': {LONG[:40]!r} is not a number (plain decimal, e.g. 5.1)",
        ),
        ({"sepal_length": "1", "sepal_width": " "}, "form field 'sepal_width' is missing"),
    ],
)
def test_invalid_form_fields_are_refused_in_so_many_words(form, message):
    with pytest.raises(APIError) as refused:
        instance_from_form(form, FEATURES)
    assert (refused.value.status, refused.value.code) == (422, "invalid_instance")
    assert refused.value.message == message


def test_plain_batches_never_go_row_by_row(monkeypatch):
    """The bulk check is what answers a batch of plain rows: the row-by-row one, about 20
    times slower, is only for finding the problem in a refused batch."""

    def row_by_row(*args):
        raise AssertionError("a plain batch went row by row")

    monkeypatch.setattr(validation, "_row", row_by_row)
    rows = [[5.1, 3.5, 1.4, 0.2], [6, 3, 5, 2], [FEATURE_MIN] * 4, [FEATURE_MAX] * 4]
    matrix = instances_from_json({"instances": rows}, FEATURES, MAX_BATCH)
    assert matrix.dtype == np.float64 and matrix.tolist() == rows


def test_a_value_of_a_type_json_does_not_have_is_named_by_its_python_type():
    """instances_from_json is also called from Python (the bench, the tests): a Decimal or a
    tuple is refused with its type's name, not a JSON word that would mislead."""
    from decimal import Decimal

    for value, kind in ((Decimal("5.1"), "Decimal"), ((5.1,), "tuple")):
        with pytest.raises(APIError) as refused:
            instances_from_json({"instances": [[value, 3.5, 1.4, 0.2]]}, FEATURES, MAX_BATCH)
        assert refused.value.message == (f"instance 0, sepal_length: expected a number, got {kind}")
