"""The bulk check of plain numeric rows agrees with the row-by-row one, always."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import APIError
from app.validation import FEATURE_MAX, FEATURE_MIN, _row, plain_rows

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")

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


def row_by_row(instances):
    try:
        return np.asarray(
            [_row(instance, i, FEATURES) for i, instance in enumerate(instances)], dtype=np.float64
        )
    except APIError:
        return None


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(instances=st.lists(rows | plain | edges, min_size=1, max_size=6))
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
