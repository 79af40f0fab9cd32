"""The public API is the proxy: schemathesis loads the document a running stack serves
and sends over 1,000 cases through nginx, each answer held to the document, none a 5xx;
and the errors nginx answers itself are the ones the document gives."""

from __future__ import annotations

import time

import pytest
import schemathesis

from tests.test_openapi import CHECKS, fuzz

pytestmark = pytest.mark.docker

# Measured on a real socket: 70 examples per operation and mode come to ~1,350 cases
# (most operations have little to vary) in about 25 s.
EXAMPLES_PER_OPERATION = 70


@pytest.fixture(scope="module")
def schema(own_stack):
    """The document as the stack serves it through the proxy, requests going there too."""
    return schemathesis.openapi.from_url(own_stack.url + "/openapi.json")


def test_over_a_thousand_cases_through_the_proxy_answer_as_documented(schema):
    started = time.monotonic()
    sent = fuzz(schema, EXAMPLES_PER_OPERATION)
    assert sent >= 1000, f"only {sent} cases"
    # The suite's budget for this module (the stack's start aside).
    assert time.monotonic() - started < 180


def test_what_nginx_answers_itself_is_documented(schema):
    """A body over the proxy's limit (413), a request line over it (414) and a header
    line over it (400) never reach the app: nginx answers, in the document's terms."""
    predict = schema["/predict"]["POST"]
    huge_batch = {"instances": [[5.1, 3.5, 1.4, 0.2]] * 20_000}  # ~400 KB of JSON
    cases = [
        (predict.Case(body=huge_batch, media_type="application/json"), 413),
        (schema["/v2/{rest}"]["GET"].Case(path_parameters={"rest": "a" * 3000}), 414),
        (schema["/healthz"]["GET"].Case(headers={"X-Padding": "a" * 3000}), 400),
    ]
    for case, status in cases:
        response = case.call_and_validate(checks=CHECKS)
        assert response.status_code == status, response.text
        # nginx's own answer: the API's shape, even under /v2.
        assert set(response.json()["error"]) == {"code", "message"}
