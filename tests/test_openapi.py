"""The OpenAPI document tells the truth about the app, and /docs shows it with nothing
from elsewhere: a valid OpenAPI 3.1 document, held to the URL map and to the rules the
app enforces, its examples sent and answered, and the app fuzzed with it (schemathesis)."""

from __future__ import annotations

import importlib.resources
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import ChecksConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app, openapi, v2_protocol
from app.errors import V2_STATUSES, APIError, is_v2
from app.model_store import get_store
from app.routes import docs
from app.security_headers import HEADERS
from app.settings import ServingSettings
from app.validation import FEATURE_MAX, FEATURE_MIN, FORM_TYPES, JSON_TYPES
from labctl.settings import ROOT

# Swagger UI's files as the test extra installs them (the docs-assets extra), where
# the image has /opt/docs-assets.
SWAGGER_UI = Path(str(importlib.resources.files("swagger_ui") / "static"))
# The files the app serves beside the API, which the document leaves out.
FILE_ENDPOINTS = {"static", "docs.asset"}
CSP = "Content-Security-Policy"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    # What the document allows the app takes; what it forbids the app refuses.
    positive_data_acceptance,
    negative_data_rejection,
]
# The statuses that count as taking a valid request and refusing an invalid one.
CHECKS_CONFIG = {
    "positive_data_acceptance": {
        # 404: V2's catch-all, whatever the path; 503: no model loaded yet, or the proxy
        # cannot reach the app; 429: the proxy's rate limit; 413 and 414: a body or a
        # request line over the proxy's byte limits, which no schema states.
        "expected-statuses": ["2xx", "404", "413", "414", "429", "503"],
    },
    "negative_data_rejection": {
        # Any client error (413 is a batch over MAX_BATCH_SIZE); 503 before a model is
        # loaded: there is nothing yet to check a body by.
        "expected-statuses": ["4xx", "503"],
    },
}
# Checks left out for an operation, and why. V2 inference: JSON Schema cannot state
# that a tensor's data fills its shape (shape[0] rows of the features) nor that binary
# tensor data's sizes add up (binary_data_size, the Inference-Header-Content-Length
# header and the body's length): a body the schema allows is mostly a 400, rightly.
# What the schema forbids is still refused, and checked.
NOT_STATED = {
    "POST /v2/models/{name}/infer": {positive_data_acceptance},
    "POST /v2/models/{name}/versions/{version}/infer": {positive_data_acceptance},
}


def make_app(registry: Path, trusted_dir: Path, **config):
    return create_app(
        {
            "registry": registry,
            "trusted_keys": trusted_dir,
            "reload_interval_s": 0,
            "docs_assets": SWAGGER_UI,
            **config,
        }
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory, publish_as_training):
    """A registry with v1 published, shared by the module's read-only tests."""
    root = tmp_path_factory.mktemp("registry")
    publish_as_training(root)
    return root


@pytest.fixture(scope="module")
def app(registry, trusted_dir):
    app = make_app(registry, trusted_dir)
    yield app
    get_store(app).stop()


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


@pytest.fixture
def empty_app(tmp_path, trusted_dir):
    """The app before any model is published."""
    return make_app(tmp_path / "empty", trusted_dir)


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    return response.get_json()["error"]


def routes(app) -> dict[str, set[str]]:
    """The URL map as OpenAPI paths and their methods, without the file routes."""
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in FILE_ENDPOINTS:
            continue
        path = re.sub(r"<(?:[^>:]+:)?([^>]+)>", r"{\1}", rule.rule)
        found.setdefault(path, set()).update(m.lower() for m in rule.methods - {"OPTIONS"})
    return found


def operations(document: dict):
    """(path, method, operation) of every operation in the document."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def pointer(*parts: str) -> str:
    """A JSON pointer into the document (RFC 6901: ~ and / escaped)."""
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def schema_validator(document: dict, ref: str) -> Draft202012Validator:
    """A validator of the schema at ref in the document, its $refs resolved in it."""
    registry = Registry().with_resource(
        "urn:openapi", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return Draft202012Validator({"$ref": "urn:openapi" + ref}, registry=registry)


# ----------------------------------------------------------------- the document --


def test_the_document_is_valid_openapi_3_1_with_and_without_a_model(document, empty_app):
    empty = empty_app.test_client().get("/openapi.json").get_json()
    for each in (document, empty):
        assert each["openapi"] == "3.1.0"
        validate(each, cls=OpenAPIV31SpecValidator)
    assert document["info"]["version"] == "iris-classifier v1"
    assert empty["info"]["version"] == "no model loaded yet"


def test_every_route_is_documented_with_its_methods_and_nothing_else(app, document):
    documented = {path: set(item) for path, item in document["paths"].items()}
    assert documented == routes(app)
    # HEAD is GET without a body: the same statuses, no content.
    for path, method, operation in operations(document):
        if method == "head":
            statuses = document["paths"][path]["get"]["responses"]
            assert set(operation["responses"]) == set(statuses)
            assert not any("content" in answer for answer in operation["responses"].values())


def test_every_endpoint_has_a_description_and_every_description_a_route(app, document):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - FILE_ENDPOINTS
    described = openapi.Builder(app.config["SETTINGS"], None).operations()
    assert set(described) == endpoints
    listed = list(operations(document))
    assert [op["operationId"] for _, _, op in listed if op.get("x-undocumented")] == []
    ids = [op["operationId"] for _, _, op in listed]
    assert len(ids) == len(set(ids))


def test_a_route_nobody_described_is_listed_as_undocumented(registry, trusted_dir):
    app = make_app(registry, trusted_dir)
    app.add_url_rule("/extra/<int:n>", "extra", lambda n: "")
    extra = openapi.document(app)["paths"]["/extra/{n}"]
    assert extra["get"]["x-undocumented"] is True and set(extra) == {"get", "head"}
    assert extra["get"]["parameters"][0]["name"] == "n"


def test_the_numbers_and_names_are_the_apps_rules(registry, trusted_dir):
    app = make_app(registry, trusted_dir, max_batch=7, max_body_bytes=12345)
    served = get_store(app).current
    document = app.test_client().get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    value = schemas["FeatureValue"]
    assert (value["minimum"], value["maximum"]) == (FEATURE_MIN, FEATURE_MAX)
    assert schemas["PredictRequest"]["properties"]["instances"]["maxItems"] == 7
    assert schemas["PredictResponse"]["properties"]["predictions"]["maxItems"] == 7
    v2_input = schemas["V2InputTensor"]["properties"]
    assert v2_input["shape"]["prefixItems"][0]["maximum"] == 7
    assert v2_input["data"]["anyOf"][0]["maxItems"] == 7 * len(served.feature_names)
    assert "12345 bytes" in document["components"]["responses"]["PayloadTooLarge"]["description"]
    assert "12345 bytes" in document["paths"]["/predict"]["post"]["description"]

    as_list, named = schemas["Instance"]["oneOf"]
    assert as_list["minItems"] == as_list["maxItems"] == len(served.feature_names)
    assert named["required"] == list(named["properties"]) == list(served.feature_names)
    assert named["additionalProperties"] is False
    prediction = schemas["Prediction"]["properties"]
    assert prediction["class_name"]["enum"] == list(served.class_names)
    assert list(prediction["probabilities"]["properties"]) == list(served.class_names)
    assert prediction["class_index"]["maximum"] == len(served.class_names) - 1

    assert v2_input["name"]["const"] == served.tensors["inputs"][0]["name"]
    assert v2_input["datatype"]["enum"] == list(v2_protocol.INPUT_DATATYPES)
    assert v2_input["shape"]["prefixItems"][1]["const"] == len(served.feature_names)
    outputs = schemas["V2InferenceResponse"]["properties"]["outputs"]["items"]["oneOf"]
    assert [o["properties"]["name"]["const"] for o in outputs] == [
        tensor["name"] for tensor in v2_protocol.output_tensors(served)
    ]
    infer = document["paths"]["/v2/models/{name}/versions/{version}/infer"]["post"]
    names = {p["name"]: p["schema"] for p in infer["parameters"] if p["in"] == "path"}
    assert names == {
        "name": {"type": "string", "enum": [served.name]},
        "version": {"type": "string", "enum": [served.version]},
    }
    media = document["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert set(media) == set(JSON_TYPES) | set(FORM_TYPES)


def test_v2_requests_are_documented_from_the_tables_the_decoder_checks_by(app, monkeypatch):
    """One table, two readers: a parameter or field the table gains or loses is in (or out
    of) both the document and what the decoder takes, with no other change."""
    monkeypatch.setattr(v2_protocol, "INPUT_PARAMETERS", {"binary_data_size": int, "x": bool})
    monkeypatch.setattr(v2_protocol, "REQUEST_FIELDS", ("parameters", "inputs", "outputs"))
    schemas = openapi.document(app)["components"]["schemas"]
    parameters, null = schemas["V2InputTensor"]["properties"]["parameters"]["anyOf"]
    assert parameters["properties"] == {
        "binary_data_size": {"type": "integer"},
        "x": {"type": "boolean"},
    }
    assert null == {"type": "null"}
    assert list(schemas["V2InferenceRequest"]["properties"]) == ["parameters", "inputs", "outputs"]
    served = get_store(app).current
    tensor = {"name": "X", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}

    def decoded(request: dict):
        return v2_protocol.decode(json.dumps(request).encode(), None, served, max_batch=10)

    assert decoded({"inputs": [{**tensor, "parameters": {"x": True}}]}).rows.shape == (1, 4)
    with pytest.raises(APIError, match="parameter 'x' must be a boolean"):
        decoded({"inputs": [{**tensor, "parameters": {"x": 1}}]})
    with pytest.raises(APIError, match="unknown field 'id'"):
        decoded({"id": "a", "inputs": [tensor]})


def test_a_null_optional_v2_field_is_one_left_out_for_the_app_and_the_document(client, document):
    tensor = {"name": "X", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}
    request = schema_validator(document, pointer("components", "schemas", "V2InferenceRequest"))
    infer = "/v2/models/iris-classifier/infer"
    for body in (
        {"id": None, "parameters": None, "outputs": None, "inputs": [tensor]},
        {
            "inputs": [{**tensor, "parameters": None}],
            "outputs": [{"name": "label", "parameters": None}],
        },
    ):
        assert list(request.iter_errors(body)) == []
        assert client.post(infer, json=body).status_code == 200, body
    for body in ({"inputs": None}, {"inputs": [{**tensor, "name": None}]}):
        assert list(request.iter_errors(body)) != []
        assert client.post(infer, json=body).status_code == 400, body


def test_without_a_model_the_schemas_are_generic_and_say_so(empty_app):
    schemas = empty_app.test_client().get("/openapi.json").get_json()["components"]["schemas"]
    assert "No model is loaded yet" in schemas["Instance"]["description"]
    assert schemas["Instance"]["oneOf"][0] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/FeatureValue"},
        "minItems": 1,
    }
    assert schemas["Prediction"]["properties"]["class_name"] == {"type": "string"}
    assert schemas["FeatureValue"]["maximum"] == FEATURE_MAX


def test_a_newly_served_version_shows_at_once(tmp_path, publish_as_training, trusted_dir):
    publish_as_training(tmp_path)
    app = make_app(tmp_path, trusted_dir)
    client = app.test_client()
    assert client.get("/openapi.json").get_json()["info"]["version"] == "iris-classifier v1"
    publish_as_training(tmp_path)
    assert get_store(app).refresh()
    document = client.get("/openapi.json").get_json()
    assert document["info"]["version"] == "iris-classifier v2"
    infer = document["paths"]["/v2/models/{name}/versions/{version}/infer"]["post"]
    assert {"type": "string", "enum": ["v2"]} in [p["schema"] for p in infer["parameters"]]


def test_v2_operations_document_what_v2_answers(client, document):
    """Under /v2 what /predict answers 415 or 422 is the protocol's 400 (app/errors.py):
    no V2 operation documents either, and each one's 400 says a Content-Encoding is one
    (the Content-Type is never looked at there) and is what the app answers."""
    shared = document["components"]["responses"]
    sent = 0
    for path, method, operation in operations(document):
        if not is_v2(path) or method == "head":
            continue
        answers = operation["responses"]
        assert not {str(status) for status in V2_STATUSES} & set(answers), (path, method)
        bad = answers["400"]
        bad = shared[bad["$ref"].rsplit("/", 1)[1]] if "$ref" in bad else bad
        assert "Content-Encoding other than identity" in bad["description"], (path, method)
        assert "body type" not in bad["description"]
        url = url_of(path.replace("{rest}", "repository/index"), operation)
        response = client.open(url, method=method, headers={"Content-Encoding": "gzip"})
        assert response.status_code == 400 and isinstance(response.get_json()["error"], str)
        sent += 1
    assert sent == 11  # /v2, health x2, metadata x2, ready x2, infer x2, elsewhere (GET, POST)


# ----------------------------------------------------------------- the examples --


def request_examples(document: dict):
    """(path, method, operation, media type, value) of every request example."""
    for path, method, operation in operations(document):
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            for example in content.get("examples", {}).values():
                yield path, method, operation, media, example["value"]


def url_of(path: str, operation: dict) -> str:
    """The path with each parameter whose schema names its values set to the first."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path" and "enum" in parameter["schema"]:
            path = path.replace(f"{{{parameter['name']}}}", parameter["schema"]["enum"][0])
    return path


def test_every_request_body_has_an_example_per_media_type(document):
    """Binary tensor data aside: its bytes are for clients, not for a JSON document."""
    for _, _, operation in operations(document):
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            if media != openapi.BINARY:
                assert content.get("examples"), (operation["operationId"], media)


def test_the_app_answers_every_example_with_200_as_documented(client, document):
    sent = 0
    for path, method, operation, media, value in request_examples(document):
        url = url_of(path, operation)
        if media in JSON_TYPES:
            response = client.open(url, method=method, json=value)
        else:
            response = client.open(url, method=method, data=value, content_type=media)
        assert response.status_code == 200, (url, media, value, response.data)
        answer = operation["responses"]["200"]["content"]
        assert response.mimetype in answer, (url, response.mimetype)
        if response.mimetype in JSON_TYPES:
            ref = pointer(
                "paths", path, method, "responses", "200", "content", response.mimetype, "schema"
            )
            errors = list(schema_validator(document, ref).iter_errors(response.get_json()))
            assert errors == [], (url, errors[0].message)
        sent += 1
    # /predict (JSON, 2 form types) and / (2 form types) one each or more, V2's infer twice.
    assert sent >= 5 + 2 * 2


# -------------------------------------------------------------------- the page --


class PageParts(HTMLParser):
    """What a page loads (src and href) and any code or style written into it."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[str] = []
        self.inline: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        for name in ("src", "href"):
            if found.get(name):
                self.urls.append(found[name])
        if tag == "script":
            self.scripts.append(found.get("src") or "")
        self.inline += [name for name in found if name.startswith("on") or name == "style"]
        self._in = tag if tag in ("script", "style") else None

    def handle_data(self, data):
        if self._in and data.strip():
            self.inline.append(f"<{self._in}> {data.strip()[:40]}")

    def handle_endtag(self, tag):
        self._in = None


def policy(text: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: [sources]}."""
    parts = [part.split() for part in text.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


def test_docs_is_swagger_ui_from_this_origin_only(client):
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = PageParts()
    page.feed(response.get_data(as_text=True))
    assert page.inline == []  # the policy would refuse it anyway: nothing written in
    assert page.urls and all(url.startswith("/") and not url.startswith("//") for url in page.urls)
    assert len(page.scripts) == 2 and "/static/docs.js" in page.scripts
    assert any(url.startswith("/docs/swagger-ui-bundle.js?v=") for url in page.scripts)
    for url in page.urls:
        assert client.get(url).status_code == 200, url
    assert 'data-openapi-url="/openapi.json"' in response.get_data(as_text=True)
    starter = client.get("/static/docs.js").get_data(as_text=True)
    # Swagger UI's default validator is validator.swagger.io: it is switched off.
    assert re.search(r"^\s*validatorUrl: null,$", starter, re.M)
    assert "://" not in starter


def test_docs_has_its_own_strict_policy_and_says_why(client):
    for url in ("/docs", "/docs/swagger-ui.css"):
        assert client.get(url).headers[CSP] == docs.POLICY
    assert policy(docs.POLICY) == {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/openapi.json"),
        ("GET", "/static/docs.js"),
        ("GET", "/healthz"),
        ("POST", "/predict"),
        ("GET", "/v2"),
        ("GET", "/static/style.css"),
        ("GET", "/nope"),
    ],
)
def test_every_other_answer_keeps_the_sites_policy(client, method, path):
    strict = HEADERS[CSP]
    assert client.open(path, method=method).headers[CSP] == strict
    # The site's policy runs no script and connects nowhere.
    directives = policy(strict)
    assert directives["default-src"] == ["'none'"]
    assert "script-src" not in directives and "connect-src" not in directives


def test_swagger_ui_files_are_cached_for_good_under_their_digest(client):
    page = PageParts()
    page.feed(client.get("/docs").get_data(as_text=True))
    [bundle] = [url for url in page.scripts if url.startswith("/docs/")]
    response = client.get(bundle)
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.get_data() == (SWAGGER_UI / docs.BUNDLE).read_bytes()
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    again = client.get(bundle, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    # Without the digest (or with an old one) the bytes may change: ask each time.
    for url in ("/docs/swagger-ui-bundle.js", "/docs/swagger-ui-bundle.js?v=0123456789abcdef"):
        assert client.get(url).headers["Cache-Control"] == "no-cache"
    assert client.get("/docs/swagger-ui.css").mimetype == "text/css"
    # Only the two files: the rest of the package is not served.
    assert error_of(client.get("/docs/swagger-editor-bundle.js"), 404)["code"] == "not_found"


def test_without_swagger_ui_docs_is_a_clear_503_and_the_document_stays(
    registry, trusted_dir, tmp_path
):
    partial = tmp_path / "assets"
    partial.mkdir()
    (partial / docs.STYLESHEET).write_text("body {}")
    for folder, missing in ((tmp_path / "none", ", ".join(docs.ASSETS)), (partial, docs.BUNDLE)):
        client = make_app(registry, trusted_dir, docs_assets=folder).test_client()
        error = error_of(client.get("/docs"), 503)
        assert error["code"] == "docs_unavailable"
        assert f"{missing} in {folder} (DOCS_ASSETS)" in error["message"]
        assert error_of(client.get(f"/docs/{docs.BUNDLE}"), 404)["code"] == "not_found"
        assert client.get("/openapi.json").status_code == 200


def test_the_image_puts_swagger_ui_where_the_setting_looks():
    dockerfile = (ROOT / "docker" / "serving.Dockerfile").read_text()
    copied = re.findall(r"^COPY --from=docs-assets \S+ (\S+)$", dockerfile, re.M)
    assert [Path(folder) for folder in copied] == [ServingSettings.from_env({}).docs_assets]
    # Out of the package, the two files /docs serves and Swagger UI's license (never
    # served: not in docs.ASSETS).
    copied_files = set(re.findall(r"swagger_ui/static/([\w.-]+)", dockerfile))
    assert copied_files == {*docs.ASSETS, "LICENSE"}


# ----------------------------------------------------------------------- fuzzing --


def checks_for(operation, checks) -> list:
    """The checks that hold for operation: checks less NOT_STATED's for it."""
    return [check for check in checks if check not in NOT_STATED.get(operation.label, ())]


def fuzz(schema, examples_per_operation: int, checks=tuple(CHECKS), **hypothesis_settings) -> int:
    """Send schemathesis' cases for every operation of schema, positive and negative,
    each answer checked by checks (configured by CHECKS_CONFIG, less NOT_STATED's) and
    never a 500; the number of cases sent (a failure raises, shrunk)."""
    schema.config.checks = ChecksConfig.from_dict(CHECKS_CONFIG)
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in GenerationMode:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples_per_operation,
                # The first request of an operation pays Flask's and ONNX Runtime's warm-up.
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                **hypothesis_settings,
            )
            def send(case):
                nonlocal sent
                sent += 1
                response = case.call_and_validate(checks=checks_for(case.operation, checks))
                assert response.status_code != 500, response.text

            try:
                send()
            except Unsatisfiable:
                # No invalid request exists where every input may be anything (no
                # parameters, or only a free string): Hypothesis finds no negative case.
                if mode is GenerationMode.POSITIVE:
                    raise
    return sent


def test_what_the_fuzz_leaves_out_is_so(client, document):
    """NOT_STATED names operations of the document, and what it says of them holds: a
    body their schema allows, its data short of its shape, is a 400."""
    labels = {f"{method.upper()} {path}" for path, method, _ in operations(document)}
    assert set(NOT_STATED) <= labels
    tensor = {"name": "X", "shape": [2, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}
    request = schema_validator(document, pointer("components", "schemas", "V2InferenceRequest"))
    assert list(request.iter_errors({"inputs": [tensor]})) == []
    for label in NOT_STATED:
        path = label.split(" ", 1)[1]
        response = client.post(
            url_of(path, document["paths"][path]["post"]), json={"inputs": [tensor]}
        )
        assert response.status_code == 400
        assert response.get_json()["error"] == "X: shape [2, 4] has 8 values; data has 4"


def test_the_app_answers_as_its_document_says(app):
    """No 5xx; every status, media type and body as documented, for valid requests and
    invalid ones (the same cases each run: the Docker test explores more)."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    # Most operations take nothing to vary (a case or two each); /predict, the page's
    # POST and V2's infer take bodies and get the most: ~200 cases, a few seconds.
    assert fuzz(schema, examples_per_operation=8, derandomize=True) >= 180


@pytest.mark.parametrize("path", ["/v2/a%0Ab", "/v2/%0A", "/v2/models/x/%0A/infer"])
def test_a_newline_in_a_v2_path_still_gets_the_protocols_404(client, path):
    """Found by the fuzzer: werkzeug's path converter stopped at a newline, so V2's
    catch-all missed such a path and the API's error shape answered, undocumented."""
    for method in ("GET", "POST"):
        response = client.open(path, method=method)
        assert response.status_code == 404 and response.mimetype == "application/json"
        assert isinstance(response.get_json()["error"], str)


def test_before_a_model_is_loaded_the_app_answers_as_its_document_says(empty_app):
    """The generic schemas hold too; here a 503 (no model yet) is the documented answer."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", empty_app)
    conformance = [check for check in CHECKS if check is not not_a_server_error]
    assert fuzz(schema, examples_per_operation=3, checks=conformance, derandomize=True) >= 50
