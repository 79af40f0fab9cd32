"""The OpenAPI 3.1 document of the running app, built from the rules the app enforces.

Nothing here is a second copy of a rule. The paths and methods are the app's URL map;
the feature range and media types are validation.py's; the batch and body limits are
the settings'; the feature names, class names and tensors are the served model's
(generic schemas while none is loaded); the V2 names, datatypes, fields and
parameters are v2_protocol.py's tables, which its decoder checks requests by. The
document is built per request, so a newly served version shows at once.
tests/test_openapi.py holds it to the app and fuzzes the app with it.

What JSON Schema cannot say (the body-size limit, a key twice in one object, that a
tensor's data holds rows x features values) is said in a description instead.

The public API is the proxy (proxy/nginx.conf), so the statuses nginx answers itself
are documented too: 400, 413, 414, 429 and 503 on every operation, in the error shape
of the API asked (under /v2 the protocol's, but for a request line nginx cannot read),
and 404 on /metrics, which the public port does not show.
nginx's 405 for any other method (PUT, DELETE, ...) has no operation to belong to:
the document's description says it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask

from app import metrics, v2_protocol
from app.errors import HTTP_CODES
from app.model_store import ServedModel, get_store
from app.routes.web import EXAMPLE
from app.settings import ServingSettings
from app.validation import (
    _DECIMAL,
    ALLOWED_RANGE,
    FEATURE_MAX,
    FEATURE_MIN,
    FEATURE_UNIT,
    FORM_TYPES,
    JSON_TYPES,
)
from model_registry.format import FORMAT_VERSION, METADATA_TYPES
from model_registry.tensors import LABEL, PROBABILITIES

OPENAPI_VERSION = "3.1.0"
# Endpoints that serve files, not the API: the page's CSS, pictures and scripts, and
# Swagger UI's two files (they belong to /docs, which is documented).
UNDOCUMENTED = frozenset({"static", "docs.asset"})
# A werkzeug rule's variable part, "<name>" or "<converter(args):name>".
_VARIABLE = re.compile(r"<(?:[a-zA-Z_][a-zA-Z0-9_]*(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
# metadata.json's (model_registry/format.py) and V2 parameters' (app/v2_protocol.py)
# Python types as JSON Schema types.
_SCHEMA_TYPES = {bool: "boolean", int: "integer", str: "string", dict: "object", list: "array"}

JSON = JSON_TYPES[0]
HTML = "text/html"
BINARY = "application/octet-stream"
# The statuses nginx itself may answer to any request (proxy/nginx.conf), always in the
# API's error shape, and each one's common response.
PROXY_STATUSES = {
    "400": "BadRequest",
    "413": "PayloadTooLarge",
    "414": "UriTooLong",
    "429": "TooManyRequests",
    "503": "Unavailable",
}

# Under /v2 errors are the protocol's {"error": "<message>"} (app/errors.py), nginx's own
# included, but for a request line nginx cannot read, which has no path to tell by.
V2_SHAPES = (
    ' In the protocol\'s {"error": "..."}, the proxy\'s own answers included; a request '
    "line the proxy cannot read has no path to tell by and gets the API's "
    '{"error": {"code", "message"}}.'
)


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {JSON: {"schema": schema, **extra}}


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An object of exactly these properties (all of them required unless listed)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _fields(table: tuple[str, ...], schemas: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """An object of exactly the fields a table of v2_protocol's lists, each with its schema
    here (a field the table gains and nothing here describes fails the document). An
    optional field may be null too: the decoder reads null as the field left out."""
    return _closed(
        {
            field: schemas[field] if field in required else _or_null(schemas[field])
            for field in table
        },
        required=required,
    )


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _parameters(table: dict[str, type]) -> dict[str, Any]:
    """A parameters object of exactly the parameters a table of v2_protocol's lists,
    each of its JSON type, none required."""
    return _closed({name: {"type": _SCHEMA_TYPES[kind]} for name, kind in table.items()}, [])


def _v2_or_api_error() -> dict[str, Any]:
    """Content of an error under /v2 that nginx may answer too: the protocol's shape, or
    the API's when nginx cannot read the request line (no path to tell by)."""
    return _json({"oneOf": [_ref("schemas", "V2Error"), _ref("schemas", "Error")]})


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {HTML: {"schema": {"type": "string"}}}}


class Builder:
    """One document: the settings and the model it describes, and its parts."""

    def __init__(self, settings: ServingSettings, served: ServedModel | None):
        self.settings = settings
        self.served = served

    # ------------------------------------------------------------ the model's parts --

    @property
    def features(self) -> tuple[str, ...] | None:
        return self.served.feature_names if self.served else None

    @property
    def classes(self) -> tuple[str, ...] | None:
        return self.served.class_names if self.served else None

    def not_loaded_note(self) -> str:
        if self.served:
            return ""
        return (
            " No model is loaded yet (see /readyz): the served model's names take their "
            "place in this document once one is."
        )

    def example_row(self) -> dict[str, float]:
        """The page's example flower, by the served model's feature names."""
        return {name: EXAMPLE.get(name, FEATURE_MIN) for name in self.features or EXAMPLE}

    def named_instance(self) -> dict[str, Any]:
        value = _ref("schemas", "FeatureValue")
        if self.features is None:
            return {"type": "object", "minProperties": 1, "additionalProperties": value}
        return _closed({name: value for name in self.features})

    def list_instance(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": _ref("schemas", "FeatureValue")}
        if self.features is None:
            schema["minItems"] = 1
        else:
            schema["minItems"] = schema["maxItems"] = len(self.features)
            schema["description"] = f"In the model's column order: {', '.join(self.features)}."
        return schema

    def class_index(self) -> dict[str, Any]:
        if self.classes is None:
            return {"type": "integer", "minimum": 0}
        return {"type": "integer", "minimum": 0, "maximum": len(self.classes) - 1}

    def class_name(self) -> dict[str, Any]:
        return {"type": "string"} if self.classes is None else {"enum": list(self.classes)}

    # ------------------------------------------------------------------- components --

    def components(self) -> dict[str, Any]:
        schemas = {
            "Error": _closed(
                {
                    "error": _closed(
                        {
                            "code": {
                                "type": "string",
                                "description": "Machine-readable, e.g. "
                                + ", ".join(sorted(set(HTTP_CODES.values()))),
                            },
                            "message": {"type": "string", "description": "For a person."},
                        }
                    )
                }
            ),
            "FeatureValue": {
                "type": "number",
                "minimum": FEATURE_MIN,
                "maximum": FEATURE_MAX,
                "description": f"A length in {FEATURE_UNIT}, {ALLOWED_RANGE} inclusive: a "
                "number (not a string, boolean or null), finite.",
            },
            **self.predict_schemas(),
            "Metadata": self.metadata_schema(),
            **self.v2_schemas(),
        }
        return {"schemas": schemas, "responses": self.common_responses()}

    def predict_schemas(self) -> dict[str, Any]:
        max_batch = self.settings.max_batch
        probability = {"type": "number", "minimum": 0, "maximum": 1}
        if self.classes is None:
            probabilities: dict[str, Any] = {"type": "object", "additionalProperties": probability}
        else:
            probabilities = _closed({name: probability for name in self.classes})
        model = _closed({"name": {"type": "string"}, "version": {"type": "string"}})
        return {
            "Instance": {
                "description": "One flower: its features as a list in column order, or "
                "as an object of named features." + self.not_loaded_note(),
                "oneOf": [self.list_instance(), self.named_instance()],
            },
            "PredictRequest": _closed(
                {
                    "instances": {
                        "type": "array",
                        "items": _ref("schemas", "Instance"),
                        "minItems": 1,
                        "maxItems": max_batch,
                        "description": f"At most {max_batch} instances (MAX_BATCH_SIZE); "
                        "more is a 413 (batch_too_large), not a 422.",
                    }
                }
            ),
            "PredictForm": {
                **self.named_instance(),
                "description": "The classic lab's form fields: one flower. Each value is "
                f"sent as a plain ASCII decimal (the whole field matches `{_DECIMAL.pattern}`,"
                " ASCII white space around it ignored): no `5_1`, `nan`, `inf` nor digits "
                "of other scripts." + self.not_loaded_note(),
            },
            "Prediction": _closed(
                {
                    "class_index": self.class_index(),
                    "class_name": self.class_name(),
                    "probabilities": {
                        **probabilities,
                        "description": "Each class's probability, finite: an answer never "
                        "carries NaN or infinity.",
                    },
                }
            ),
            "PredictResponse": _closed(
                {
                    "model": {**model, "description": "The version that answered."},
                    "predictions": {
                        "type": "array",
                        "items": _ref("schemas", "Prediction"),
                        "minItems": 1,
                        "maxItems": max_batch,
                        "description": "One per instance, in the request's order.",
                    },
                }
            ),
        }

    def metadata_schema(self) -> dict[str, Any]:
        """metadata.json: the keys and JSON types readers require (model_registry/format.py)."""
        properties: dict[str, Any] = {
            key: {"type": _SCHEMA_TYPES[kind]} for key, kind in METADATA_TYPES.items()
        }
        properties["format_version"] = {"const": FORMAT_VERSION}
        names = {"type": "array", "items": {"type": "string"}, "minItems": 1}
        properties["signature"] = {
            "type": "object",
            "properties": {"inputs": names, "outputs": names, "tensors": {"type": "object"}},
            "required": ["inputs", "outputs"],
            "description": "inputs: the feature names in column order; outputs: the class "
            "names by index; tensors: each graph tensor's name, datatype and shape.",
        }
        if self.served:
            properties["name"] = {"const": self.served.name}
        return {
            "type": "object",
            "properties": properties,
            "required": list(METADATA_TYPES),
            "description": "The served version's metadata.json (model_registry/FORMAT.md).",
        }

    def common_responses(self) -> dict[str, Any]:
        error = _ref("schemas", "Error")
        body_limit = self.settings.max_body_bytes
        described = {
            "BadRequest": "Malformed: a bad request line, or header lines or headers over "
            "the proxy's limits (nginx); for a JSON body, malformed JSON, not UTF-8, a byte "
            "order mark, a key twice in one object, or nested too deeply.",
            "NotFound": "No such resource.",
            "PayloadTooLarge": f"A body over {body_limit} bytes (MAX_BODY_BYTES; nginx's "
            "client_max_body_size is the same), with a Content-Length or chunked; or more "
            "rows than MAX_BATCH_SIZE.",
            "UriTooLong": "A request line over the proxy's limit (nginx).",
            "UnsupportedMediaType": "A Content-Encoding other than identity (bodies are "
            "never decompressed), or a body type the operation does not take.",
            "InvalidInstance": "A body that parses but breaks a value rule: wrong arity, an "
            "unknown or missing feature, a non-number, a value outside "
            f"{ALLOWED_RANGE}; the message names the instance and the field.",
            "TooManyRequests": "Too many requests at once from one address, or in all (nginx).",
            "Unavailable": "No verified model is loaded yet (the message says why), or the "
            "proxy cannot reach the model server (code serving_unavailable).",
        }
        responses: dict[str, Any] = {
            name: {"description": text, "content": _json(error)} for name, text in described.items()
        }
        responses.update(self.v2_responses(described))
        for name in ("TooManyRequests", "V2TooManyRequests"):
            responses[name]["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            }
        return responses

    def v2_responses(self, described: dict[str, str]) -> dict[str, Any]:
        """What /v2 answers (app/errors.py): the protocol's shape, and its 400 where
        /predict's would be a 415 or a 422, so no V2 operation has either."""
        responses = {
            f"V2{name}": {"description": described[name] + V2_SHAPES, "content": _v2_or_api_error()}
            for name in PROXY_STATUSES.values()
        }
        responses["V2BadRequest"]["description"] = (
            "A request the server cannot take: the protocol's 400 (Triton's too), where "
            "/predict answers 415 or 422; on every V2 operation, a Content-Encoding other "
            "than identity (bodies are never decompressed). From the proxy: a bad request "
            "line, or header lines or headers over its limits." + V2_SHAPES
        )
        responses["V2NotFound"] = {
            "description": "Another model or version than the one served, or a path of the "
            'protocol this server does not serve. In the protocol\'s {"error": "..."}.',
            "content": _json(_ref("schemas", "V2Error")),
        }
        return responses

    # --------------------------------------------------------------------------- V2 --

    def v2_tensor_metadata(self) -> dict[str, Any]:
        shape = {
            "type": "array",
            "items": {"type": "integer", "minimum": -1},
            "description": "-1: a dimension of any size (the batch).",
        }
        return _closed({"name": {"type": "string"}, "datatype": {"type": "string"}, "shape": shape})

    def v2_input(self) -> dict[str, Any]:
        """The one input tensor: rows x features, FP64 or FP32, values as /predict's."""
        max_batch = self.settings.max_batch
        value = _ref("schemas", "FeatureValue")
        served = self.served
        width: dict[str, Any] = {"type": "integer", "minimum": 1}
        row: dict[str, Any] = {"type": "array", "items": value, "minItems": 1}
        flat: dict[str, Any] = {"type": "array", "items": value}
        name: dict[str, Any] = {"type": "string"}
        if served is not None:
            features = len(served.feature_names)
            width = {"const": features}
            row["minItems"] = row["maxItems"] = features
            flat["maxItems"] = max_batch * features
            name = {"const": served.tensors["inputs"][0]["name"]}
        return {
            **_fields(
                v2_protocol.INPUT_FIELDS,
                {
                    "name": name,
                    "shape": {
                        "type": "array",
                        "prefixItems": [
                            {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": max_batch,
                                "description": f"Rows; more than {max_batch} "
                                "(MAX_BATCH_SIZE) is a 413.",
                            },
                            {**width, "description": "Features."},
                        ],
                        "items": False,
                        "minItems": 2,
                    },
                    "datatype": {"enum": list(v2_protocol.INPUT_DATATYPES)},
                    "parameters": _parameters(v2_protocol.INPUT_PARAMETERS),
                    "data": {
                        "description": "rows x features values: flat in row-major order, "
                        "or one list per row. FP32 values are rounded to FP32 first.",
                        "anyOf": [flat, {"type": "array", "items": row, "maxItems": max_batch}],
                    },
                },
                required=["name", "shape", "datatype", "data"],
            ),
            "description": "The model's one input tensor."
            + self.not_loaded_note()
            + " With the binary tensor data extension, parameters.binary_data_size "
            "replaces data.",
        }

    def v2_outputs(self) -> list[dict[str, Any]]:
        """Each output an answer may carry, by name, with the values its data holds."""
        shape = {"type": "array", "items": {"type": "integer", "minimum": 0}}
        binary = _closed({"binary_data_size": {"type": "integer", "minimum": 0}})
        if self.served is None:
            return [
                _closed(
                    {
                        "name": {"type": "string"},
                        "datatype": {"type": "string"},
                        "shape": shape,
                        "data": {"type": "array"},
                        "parameters": binary,
                    },
                    required=["name", "datatype", "shape"],
                )
            ]
        values = {
            LABEL: self.class_index(),
            PROBABILITIES: {"type": "number", "minimum": 0, "maximum": 1},
            v2_protocol.CLASS_NAME: self.class_name(),
        }
        outputs = []
        for tensor in v2_protocol.output_tensors(self.served):
            rank = len(tensor["shape"])
            outputs.append(
                _closed(
                    {
                        "name": {"const": tensor["name"]},
                        "datatype": {"const": tensor["datatype"]},
                        "shape": {**shape, "minItems": rank, "maxItems": rank},
                        "data": {
                            "type": "array",
                            "items": values.get(tensor["name"], {}),
                            "description": "Flat, in row-major order.",
                        },
                        "parameters": binary,
                    },
                    required=["name", "datatype", "shape"],
                )
            )
        return outputs

    def v2_schemas(self) -> dict[str, Any]:
        served = self.served
        output_names: dict[str, Any] = {"type": "string"}
        if served is not None:
            output_names = {"enum": [t["name"] for t in v2_protocol.output_tensors(served)]}
        tensor = _ref("schemas", "V2TensorMetadata")
        model_name: dict[str, Any] = {"type": "string"}
        if served is not None:
            model_name = {"const": served.name}
        return {
            "V2Error": {
                **_closed({"error": {"type": "string"}}),
                "description": "The protocol's error body.",
            },
            "V2ServerMetadata": _closed(
                {
                    "name": {"const": v2_protocol.SERVER_NAME},
                    "version": {"const": self.settings.server_version},
                    "extensions": {
                        "type": "array",
                        "items": {"enum": list(v2_protocol.EXTENSIONS)},
                    },
                }
            ),
            "V2TensorMetadata": self.v2_tensor_metadata(),
            "V2ModelMetadata": _closed(
                {
                    "name": model_name,
                    "versions": {"type": "array", "items": {"type": "string"}},
                    "platform": {"const": v2_protocol.PLATFORM},
                    "inputs": {"type": "array", "items": tensor},
                    "outputs": {"type": "array", "items": tensor},
                }
            ),
            "V2InferenceRequest": _fields(
                v2_protocol.REQUEST_FIELDS,
                {
                    "id": {"type": "string", "description": "Echoed in the answer."},
                    "parameters": _parameters(v2_protocol.REQUEST_PARAMETERS),
                    "inputs": {
                        "type": "array",
                        "items": _ref("schemas", "V2InputTensor"),
                        "minItems": 1,
                        "maxItems": 1,
                    },
                    "outputs": {
                        "type": "array",
                        "minItems": 1,
                        "items": _fields(
                            v2_protocol.OUTPUT_FIELDS,
                            {
                                "name": output_names,
                                "parameters": _parameters(v2_protocol.OUTPUT_PARAMETERS),
                            },
                            required=["name"],
                        ),
                        "description": "The outputs to answer with, each once, in this "
                        "order; leave it out for all of them.",
                    },
                },
                required=["inputs"],
            ),
            "V2InputTensor": self.v2_input(),
            "V2InferenceResponse": _closed(
                {
                    "model_name": model_name,
                    "model_version": {"type": "string"},
                    "id": {"type": "string"},
                    "outputs": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"oneOf": self.v2_outputs()},
                    },
                },
                required=["model_name", "model_version", "outputs"],
            ),
        }

    # ------------------------------------------------------------------- operations --

    def responses(self, ok: dict[str, Any], v2: bool = False, **extra: Any) -> dict[str, Any]:
        """The 200 answer, what the proxy and any route may answer, and extra ones.

        Every route may get a 415 from the Content-Encoding check (app/content_encoding.py),
        which under /v2 is a 400 (app/errors.py).
        """
        prefix = "V2" if v2 else ""
        answers: dict[str, Any] = {"200": ok}
        for status, name in PROXY_STATUSES.items():
            answers[status] = _ref("responses", prefix + name)
        if not v2:
            answers["415"] = _ref("responses", "UnsupportedMediaType")
        answers.update({status.lstrip("_"): answer for status, answer in extra.items()})
        return dict(sorted(answers.items()))

    def form_body(self) -> dict[str, Any]:
        row = {name: f"{value:g}" for name, value in self.example_row().items()}
        examples = {"flower": {"summary": "One flower's measurements", "value": row}}
        return {
            media: {"schema": _ref("schemas", "PredictForm"), "examples": examples}
            for media in FORM_TYPES
        }

    def predict(self) -> dict[str, Any]:
        row = self.example_row()
        examples = {
            "lists": {
                "summary": "Features in column order",
                "value": {"instances": [list(row.values())]},
            },
            "named": {"summary": "Named features", "value": {"instances": [row]}},
        }
        return {
            "tags": ["prediction"],
            "summary": "Classify one or more iris flowers",
            "description": "JSON instances (lists in column order or named features), or "
            "the classic lab's form fields for one flower. A JSON body is UTF-8 without a "
            "byte order mark, with no key twice in one object; any body is at most "
            f"{self.settings.max_body_bytes} bytes.",
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {"schema": _ref("schemas", "PredictRequest"), "examples": examples},
                    **self.form_body(),
                },
            },
            "responses": self.responses(
                {
                    "description": "Each instance's class and probabilities, and the "
                    "version that answered.",
                    "content": _json(_ref("schemas", "PredictResponse")),
                },
                _422=_ref("responses", "InvalidInstance"),
            ),
        }

    def model(self) -> dict[str, Any]:
        return {
            "tags": ["prediction"],
            "summary": "Describe the served model",
            "responses": self.responses(
                {
                    "description": "The served version's registry metadata.",
                    "content": _json(_ref("schemas", "Metadata")),
                }
            ),
        }

    def healthz(self) -> dict[str, Any]:
        return {
            "tags": ["health"],
            "summary": "Liveness: the process answers",
            "responses": self.responses(
                {"description": "Alive.", "content": _json(_closed({"status": {"const": "ok"}}))}
            ),
        }

    def readyz(self) -> dict[str, Any]:
        model = _closed(
            {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "runtime": {"type": "string"},
            }
        )
        ready = _closed(
            {
                "status": {"const": "ready"},
                "model": model,
                "instance": {"type": "string", "description": "The replica's host name."},
            }
        )
        return {
            "tags": ["health"],
            "summary": "Readiness: a verified model is loaded",
            "responses": self.responses(
                {
                    "description": "Ready: the model it serves, and which replica answered.",
                    "content": _json(ready),
                }
            ),
        }

    def scrape(self) -> dict[str, Any]:
        return {
            "tags": ["health"],
            "summary": "Prometheus metrics (internal network only)",
            "description": "A Prometheus on the internal network scrapes serving:8080/metrics;"
            " on the public port the proxy answers 404.",
            "responses": self.responses(
                {
                    "description": "The metrics in Prometheus' text format.",
                    "content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}},
                },
                _404={
                    "description": "Through the proxy: not on the public port.",
                    "content": _json(_ref("schemas", "Error")),
                },
            ),
        }

    def index(self) -> dict[str, Any]:
        return {
            "tags": ["page"],
            "summary": "The web page: a form for one flower's measurements",
            "responses": self.responses(_page("The page.")),
        }

    def classify(self) -> dict[str, Any]:
        not_ready = _page(
            "The page saying no model is loaded yet; or, from the proxy, the model server "
            "is not answering."
        )
        not_ready["content"].update(_json(_ref("schemas", "Error")))
        return {
            "tags": ["page"],
            "summary": "Classify the flower the form describes and show the answer",
            "requestBody": {"required": True, "content": self.form_body()},
            "responses": self.responses(
                _page("The page with the species and its probabilities."),
                _422=_page("The page explaining what is wrong."),
                _503=not_ready,
            ),
        }

    def openapi_document(self) -> dict[str, Any]:
        document = {
            "type": "object",
            "properties": {"openapi": {"const": OPENAPI_VERSION}},
            "required": ["openapi", "info", "paths"],
        }
        return {
            "tags": ["docs"],
            "summary": "This document (OpenAPI 3.1)",
            "responses": self.responses(
                {
                    "description": "The API's description, built from the running app.",
                    "content": _json(document),
                }
            ),
        }

    def docs_page(self) -> dict[str, Any]:
        return {
            "tags": ["docs"],
            "summary": "This document, rendered by Swagger UI",
            "responses": self.responses(
                _page("The page; Swagger UI loads /openapi.json."),
                _503={
                    "description": "Swagger UI's files are not where DOCS_ASSETS says "
                    "(docs_unavailable); or, from the proxy, the model server is not answering.",
                    "content": _json(_ref("schemas", "Error")),
                },
            ),
        }

    def path_parameters(self, path: str) -> list[dict[str, Any]]:
        """The path's parameters: V2's model name and version are the served model's (any
        other is a 404, documented), so a client or a fuzzer names the one that answers."""
        served = self.served
        schemas = {
            "name": {"enum": [self.settings.model_name]},
            "version": {"enum": [served.version]} if served else {"type": "string"},
            "rest": {"type": "string", "minLength": 1},
        }
        described = {
            "name": "The served model's name (MODEL_NAME); any other is a 404.",
            "version": "The served version; any other is a 404.",
            "rest": "Any other path under /v2.",
        }
        return [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", **schemas.get(name, {})},
                "description": described.get(name, ""),
            }
            for name in re.findall(r"{(\w+)}", path)
        ]

    def v2_get(self, summary: str, ok: dict[str, Any], *, model: bool) -> dict[str, Any]:
        """A V2 GET: a path naming the model may name another, or another version (404)."""
        extra = {"_404": _ref("responses", "V2NotFound")} if model else {}
        return {
            "tags": ["v2"],
            "summary": summary,
            "responses": self.responses(ok, v2=True, **extra),
        }

    def v2_server_metadata(self) -> dict[str, Any]:
        ok = {
            "description": "The server's name, version and protocol extensions.",
            "content": _json(_ref("schemas", "V2ServerMetadata")),
        }
        return self.v2_get("Server metadata", ok, model=False)

    def v2_server_live(self) -> dict[str, Any]:
        ok = {"description": "Live.", "content": _json(_closed({"live": {"const": True}}))}
        return self.v2_get("Server liveness", ok, model=False)

    def v2_server_ready(self) -> dict[str, Any]:
        ok = {"description": "Ready.", "content": _json(_closed({"ready": {"const": True}}))}
        return self.v2_get("Server readiness: a verified model is loaded", ok, model=False)

    def v2_model_metadata(self) -> dict[str, Any]:
        ok = {
            "description": "The model's name, served version, platform and typed tensors.",
            "content": _json(_ref("schemas", "V2ModelMetadata")),
        }
        return self.v2_get("Model metadata", ok, model=True)

    def v2_model_ready(self) -> dict[str, Any]:
        ready = _closed({"name": {"type": "string"}, "ready": {"const": True}})
        ok = {"description": "The model is loaded.", "content": _json(ready)}
        return self.v2_get("Model readiness", ok, model=True)

    def v2_infer(self) -> dict[str, Any]:
        length = v2_protocol.HEADER_LENGTH
        json_body: dict[str, Any] = {"schema": _ref("schemas", "V2InferenceRequest")}
        if self.served is not None:
            row = self.example_row()
            tensor = {
                "name": self.served.tensors["inputs"][0]["name"],
                "shape": [1, len(row)],
                "datatype": "FP64",
                "data": list(row.values()),
            }
            json_body["examples"] = {
                "all outputs": {"summary": "One row, every output", "value": {"inputs": [tensor]}},
                "class names": {
                    "summary": "The class name only, with an id",
                    "value": {
                        "id": "example-1",
                        "inputs": [tensor],
                        "outputs": [{"name": v2_protocol.CLASS_NAME}],
                    },
                },
            }
        binary_body = {
            "schema": {
                "type": "string",
                "contentMediaType": BINARY,
                "description": f"Binary tensor data: the JSON request, its length in {length},"
                " then each tensor's little-endian values.",
            }
        }
        ok = {
            "description": "The outputs asked for. With binary outputs: the JSON response, "
            f"its length in {length}, then the tensors' bytes.",
            "headers": {
                length: {
                    "description": "The JSON's length, when binary tensor data follows it.",
                    "schema": {"type": "integer", "minimum": 0},
                }
            },
            "content": {
                **_json(_ref("schemas", "V2InferenceResponse")),
                BINARY: {"schema": {"type": "string", "contentMediaType": BINARY}},
            },
        }
        return {
            "tags": ["v2"],
            "summary": "Classify the rows of the input tensor",
            "description": "The same model, checks and counted predictions as /predict, in "
            "the Open Inference Protocol's shapes. A body is at most "
            f"{self.settings.max_body_bytes} bytes.",
            "parameters": [
                {
                    "name": length,
                    "in": "header",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0},
                    "description": "Binary tensor data: where the JSON ends in the body.",
                }
            ],
            "requestBody": {"required": True, "content": {JSON: json_body, BINARY: binary_body}},
            "responses": self.responses(
                ok,
                v2=True,
                _400={
                    "description": "A request the server cannot take (the protocol's 400, "
                    "Triton's too), the message saying what and where: malformed JSON (not "
                    "UTF-8, a byte order mark, a key twice in one object, nested too deeply); "
                    "an unknown field or parameter, or one of the wrong JSON type; the "
                    "input's name, datatype or shape; data that does not fill the shape; "
                    f"binary sizes that do not add up (binary_data_size, {length}); an "
                    "unknown output, or one asked for twice; a value that is not a number, "
                    f"not finite, or outside {ALLOWED_RANGE} (in /predict's words, where "
                    "/predict answers 422); a row the model gave no finite probabilities "
                    "for; a Content-Encoding other than identity. From the proxy: a bad "
                    "request line, or headers over its limits." + V2_SHAPES,
                    "content": _v2_or_api_error(),
                },
                _404=_ref("responses", "V2NotFound"),
            ),
        }

    def v2_elsewhere(self) -> dict[str, Any]:
        return {
            "tags": ["v2"],
            "summary": "Any other path under /v2: not served",
            "description": "The model repository, shared memory, statistics and other "
            "protocol extensions are not served: a 404 in the protocol's shape (a 405 "
            "where another method answers the path).",
            "responses": {
                status: answer
                for status, answer in self.responses(
                    {},
                    v2=True,
                    _404=_ref("responses", "V2NotFound"),
                    _405={
                        "description": "Another method answers this path (Allow names it).",
                        "headers": {"Allow": {"schema": {"type": "string"}}},
                        "content": _json(_ref("schemas", "V2Error")),
                    },
                ).items()
                if status != "200"
            },
        }

    def operations(self) -> dict[str, Callable[[], dict[str, Any]]]:
        """Endpoint -> how its operation is described (operation id: the method's name)."""
        return {
            "api.predict_route": self.predict,
            "api.model_route": self.model,
            "health.healthz": self.healthz,
            "health.readyz": self.readyz,
            "metrics.metrics_route": self.scrape,
            "web.index": self.index,
            "web.classify": self.classify,
            "docs.openapi_document": self.openapi_document,
            "docs.page": self.docs_page,
            "v2.server_metadata": self.v2_server_metadata,
            "v2.server_live": self.v2_server_live,
            "v2.server_ready": self.v2_server_ready,
            "v2.model_metadata": self.v2_model_metadata,
            "v2.model_ready": self.v2_model_ready,
            "v2.infer": self.v2_infer,
            "v2.elsewhere": self.v2_elsewhere,
        }


def openapi_path(rule: str) -> str:
    """A werkzeug rule as an OpenAPI path: "/a/<int:b>" -> "/a/{b}"."""
    return _VARIABLE.sub(r"{\1}", rule)


def _head(get: dict[str, Any], responses: dict[str, Any]) -> dict[str, Any]:
    """HEAD of a GET operation: the same statuses and headers, no body."""
    bodiless = {}
    for status, answer in get["responses"].items():
        if "$ref" in answer:
            answer = responses[answer["$ref"].rsplit("/", 1)[1]]
        bodiless[status] = {key: value for key, value in answer.items() if key != "content"}
    return {
        **get,
        "operationId": get["operationId"] + "_head",
        "summary": get["summary"] + " (headers only)",
        "responses": bodiless,
    }


def _undocumented(endpoint: str) -> dict[str, Any]:
    """A route nobody described yet: listed, so the document never hides one (a test fails)."""
    return {
        "summary": f"Undocumented ({endpoint})",
        "x-undocumented": True,
        "responses": {"default": {"description": "Not described yet."}},
    }


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of app, as it runs now (its settings and served model)."""
    settings = app.config["SETTINGS"]
    served = get_store(app).current
    builder = Builder(settings, served)
    components = builder.components()
    described = builder.operations()
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint in UNDOCUMENTED:
            continue
        make = described.get(rule.endpoint)
        name = make.__name__ if make else rule.endpoint.replace(".", "_")
        path = openapi_path(rule.rule)
        item = paths.setdefault(path, {})
        # werkzeug adds HEAD to every GET rule; OPTIONS is off (PROVIDE_AUTOMATIC_OPTIONS).
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        for method in methods:
            operation = make() if make else _undocumented(rule.endpoint)
            # One operation id per rule and method: the builder's name, then the
            # method when a rule takes several, and "_versioned" on V2's
            # /versions/{version} forms (each such endpoint has both rules); a test keeps
            # the ids unique.
            suffix = f"_{method.lower()}" if len(methods) > 1 else ""
            suffix += "_versioned" if "{version}" in path else ""
            parameters = builder.path_parameters(path)
            operation["parameters"] = parameters + operation.get("parameters", [])
            if not operation["parameters"]:
                del operation["parameters"]
            item[method.lower()] = {"operationId": name + suffix, **operation}
        if "HEAD" in (rule.methods or set()) and "get" in item:
            item["head"] = _head(item["get"], components["responses"])
    model = f"{served.name} {served.version}" if served else "no model loaded yet"
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Iris classifier (mlops-docker-labs serving)",
            "version": model,
            "description": (
                "Built by the running server from the rules it enforces (app/openapi.py), "
                "for the model it serves now. Every error is JSON and never a traceback: "
                '`{"error": {"code", "message"}}`, and under /v2 the Open Inference '
                'Protocol\'s `{"error": "..."}`. Through the proxy any method but GET, HEAD '
                "and POST gets a 405 with an Allow header (nginx), and every response the "
                "server gives carries an X-Request-ID (the request's, when short and plain)."
            ),
        },
        "servers": [{"url": "/", "description": "This server (through the proxy in Lab 2)"}],
        "tags": [
            {"name": "prediction", "description": "The prediction API"},
            {"name": "v2", "description": "The Open Inference Protocol (KServe V2)"},
            {"name": "health", "description": "Probes and metrics"},
            {"name": "page", "description": "The web page"},
            {"name": "docs", "description": "This document"},
        ],
        "paths": paths,
        "components": components,
    }
