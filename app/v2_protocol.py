"""The Open Inference Protocol (KServe's "V2" protocol) over HTTP: what goes in, what comes out.

`decode` turns an inference request into the float64 row matrix the model takes; `encode`
turns the classified rows into the inference response. Both speak the protocol's JSON
and Triton's binary tensor data extension, which tritonclient uses by default: the JSON
object, then the tensors' raw little-endian bytes in the same body, the
Inference-Header-Content-Length header saying where the JSON ends.

The values themselves are checked by app/validation.py, as /predict's are and in its
words (an FP32 tensor's as FP32 holds them). Every fault of a request is a 400 naming
it (app/errors.py answers /predict's 422 so under /v2). Nothing here knows about Flask:
the routes (app/routes/v2.py) hand in bytes and a header and send out what comes back.

Specifications: github.com/kserve/open-inference-protocol (specification/protocol/
inference_rest.md) and Triton's docs/protocol/extension_binary_data.md.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import orjson

from app.errors import APIError
from app.model_store import ServedModel
from app.prediction import Classified
from app.validation import batch_within, number, parse_json_body, plain_numbers
from model_registry.tensors import LABEL, PROBABILITIES

# GET /v2: the server's name, its version (the settings': the image's) and the
# extensions it really speaks.
SERVER_NAME = "mlops-docker-labs"
EXTENSIONS = ("binary_tensor_data",)
# The specification's platform name for a model ONNX Runtime runs ("<project>_<format>").
PLATFORM = "onnx_onnxv1"
# The request and response header giving the length of the JSON object in the body,
# when binary tensor data follows it.
HEADER_LENGTH = "Inference-Header-Content-Length"
# The input's datatypes accepted, as numpy reads their binary form (little-endian, as
# the extension specifies). FP32 values are widened to float64, which is exact.
INPUT_DATATYPES = {"FP64": "<f8", "FP32": "<f4"}
# FP32's largest finite value: a JSON number beyond it has no FP32 form.
_FP32_MAX = float(np.finfo(np.float32).max)
# Beside the graph's label and probabilities: each row's class by name, from the
# signature's class names (no tensor of the graph has it).
CLASS_NAME = "class_name"
CLASS_NAME_TENSOR = {"name": CLASS_NAME, "datatype": "BYTES", "shape": [-1]}
# How the outputs' numeric datatypes (as the graph has them) are written as binary.
_BINARY_TYPES = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "INT32": "<i4"}
# The rules of a request's JSON, as tables: decode() checks a request by them, and
# app/openapi.py writes the document's request schemas from them.
# The fields each JSON object of a request may have; any other is refused by name.
REQUEST_FIELDS = ("id", "parameters", "inputs", "outputs")
INPUT_FIELDS = ("name", "shape", "datatype", "parameters", "data")
OUTPUT_FIELDS = ("name", "parameters")
# The parameters this server acts on, where each may stand, and the JSON type each must
# have (a boolean is not an integer); any other parameter is refused by name, never
# silently ignored.
REQUEST_PARAMETERS = {"binary_data_output": bool}
INPUT_PARAMETERS = {"binary_data_size": int}
OUTPUT_PARAMETERS = {"binary_data": bool}
# The JSON types of those parameters, as messages name them.
_PARAMETER_TYPES = {bool: "a boolean", int: "an integer"}


def bad_request(message: str) -> APIError:
    return APIError(400, "bad_request", message)


def _shown(value: object) -> str:
    """A value from the request, quoted in a message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class RequestedOutput:
    """An output to answer with, as JSON data or as binary tensor data."""

    name: str
    binary: bool


@dataclass(frozen=True)
class InferenceRequest:
    """A decoded inference request: validated rows, the outputs wanted, the client's id."""

    rows: np.ndarray  # (n, features) float64, every value checked as /predict checks it
    outputs: tuple[RequestedOutput, ...]
    id: str | None


@dataclass(frozen=True)
class Answer:
    """An encoded inference response: the body, and the length of its JSON object when
    binary tensor data follows it (None: the body is all JSON)."""

    body: bytes
    json_length: int | None


def server_metadata(version: str) -> dict:
    """GET /v2: the server metadata response, for the server's version."""
    return {"name": SERVER_NAME, "version": version, "extensions": list(EXTENSIONS)}


def output_tensors(served: ServedModel) -> list[dict]:
    """The outputs a request may ask for, in the order of an answer with all of them:
    the graph's label and probabilities as its signature types them, then class_name."""
    graph = [t for t in served.tensors["outputs"] if t["name"] in (LABEL, PROBABILITIES)]
    return [*graph, CLASS_NAME_TENSOR]


def model_metadata(served: ServedModel) -> dict:
    """GET /v2/models/{name}: the model metadata response; -1 is the batch dimension."""
    return {
        "name": served.name,
        "versions": [served.version],
        "platform": PLATFORM,
        "inputs": served.tensors["inputs"],
        "outputs": output_tensors(served),
    }


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes | None]:
    """The body's JSON object and the binary tensor data after it (None: no header, so
    the whole body is JSON)."""
    if header_length is None:
        return body, None
    text = header_length.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > len(body):
        raise bad_request(
            f"{HEADER_LENGTH} {header_length[:40]!r} is not a length within the body "
            f"({len(body)} bytes)"
        )
    length = int(text)
    return body[:length], body[length:]


def _parameters(value: object, allowed: dict[str, type], where: str) -> dict:
    """A parameters object holding only the parameters this server acts on, each of the
    JSON type it must have (a boolean is not an integer)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{where}: parameters must be an object")
    for key, item in value.items():
        if key not in allowed:
            raise bad_request(
                f"{where}: parameter {_shown(key)} is not supported "
                f"(supported: {', '.join(allowed)})"
            )
        if type(item) is not allowed[key]:
            raise bad_request(
                f"{where}: parameter {key!r} must be {_PARAMETER_TYPES[allowed[key]]}"
            )
    return value


def _unknown_field(document: dict, fields: tuple[str, ...], where: str) -> None:
    extra = [key for key in document if key not in fields]
    if extra:
        raise bad_request(
            f"{where}: unknown field {_shown(extra[0])} (fields: {', '.join(fields)})"
        )


def decode(
    body: bytes, header_length: str | None, served: ServedModel, max_batch: int
) -> InferenceRequest:
    """An inference request body (and its Inference-Header-Content-Length header, if
    any) -> the rows to classify and how to answer; an APIError says what is wrong."""
    document, binary = _split(body, header_length)
    try:
        request = parse_json_body(document)
    except APIError as exc:
        if binary is not None:
            raise
        # Binary tensor data sent without the header looks like broken JSON: say so.
        raise bad_request(
            f"{exc.message} (binary tensor data after the JSON needs the {HEADER_LENGTH} "
            "header, giving the JSON's length)"
        ) from None
    if not isinstance(request, dict):
        raise bad_request('the body must be an inference request object: {"inputs": [...]}')
    _unknown_field(request, REQUEST_FIELDS, "the request")
    request_id = request.get("id")
    if request_id is not None and type(request_id) is not str:
        raise bad_request("id must be a string")
    parameters = _parameters(request.get("parameters"), REQUEST_PARAMETERS, "the request")
    inputs = request.get("inputs")
    expected = served.tensors["inputs"][0]["name"]
    if not isinstance(inputs, list) or len(inputs) != 1:
        raise bad_request(f"inputs must be a list of one tensor, {expected!r}")
    rows = _input(inputs[0], binary, served, max_batch)
    outputs = _requested(
        request.get("outputs"), parameters.get("binary_data_output", False), served
    )
    return InferenceRequest(rows, outputs, request_id)


def _input(tensor: object, binary: bytes | None, served: ServedModel, max_batch: int) -> np.ndarray:
    """The one input tensor -> an (n, features) float64 matrix."""
    name = served.tensors["inputs"][0]["name"]
    features = served.feature_names
    width = len(features)
    if not isinstance(tensor, dict):
        raise bad_request("inputs: the tensor must be an object {name, shape, datatype, data}")
    _unknown_field(tensor, INPUT_FIELDS, "the input")
    if tensor.get("name") != name:
        raise bad_request(
            f"unknown input {_shown(tensor.get('name'))}; the model's input is {name!r}"
        )
    datatype = tensor.get("datatype")
    if type(datatype) is not str or datatype not in INPUT_DATATYPES:
        raise bad_request(
            f"{name}: datatype {_shown(datatype)} is not supported; "
            f"send {' or '.join(INPUT_DATATYPES)}"
        )
    shape = tensor.get("shape")
    if not (
        isinstance(shape, list)
        and len(shape) == 2
        and all(type(size) is int for size in shape)
        and shape[0] >= 1
        and shape[1] == width
    ):
        raise bad_request(
            f"{name}: shape {_shown(shape)} is not [rows, {width}] "
            f"(at least one row of {', '.join(features)})"
        )
    count = shape[0]
    batch_within(count, max_batch)
    parameters = _parameters(tensor.get("parameters"), INPUT_PARAMETERS, name)
    size = parameters.get("binary_data_size")

    # Where a value sits, for messages: "X row 1, sepal_width" (position in row-major order).
    def where(position: int) -> str:
        return f"{name} row {position // width}, {features[position % width]}"

    if size is None:
        if binary:
            raise bad_request(
                f"{len(binary)} bytes follow the JSON, but {name} declares no binary_data_size"
            )
        if "data" not in tensor:
            raise bad_request(f"{name}: no data, and no binary_data_size")
        values = _json_values(tensor["data"], count, width, name)
        if datatype == "FP32":
            values = _as_fp32(values)
    else:
        if "data" in tensor:
            raise bad_request(f"{name}: both data and binary_data_size; send one")
        values = _binary_values(binary, size, count * width, datatype, name)
    return _checked(values, where).reshape(count, width)


def _json_values(data: object, count: int, width: int, name: str) -> list:
    """Tensor data given as JSON, flat or one list per row (the protocol allows both),
    as a flat list of the values sent."""
    if not isinstance(data, list):
        raise bad_request(f"{name}: data must be a list, flat or one list per row")
    if data and all(type(row) is list for row in data):
        if len(data) != count or any(len(row) != width for row in data):
            raise bad_request(
                f"{name}: data as one list per row must be {count} lists of {width} values"
            )
        data = [value for row in data for value in row]
    if len(data) != count * width:
        raise bad_request(
            f"{name}: shape [{count}, {width}] has {count * width} values; data has {len(data)}"
        )
    return data


def _as_fp32(values: list) -> list:
    """An FP32 tensor's JSON data as FP32 holds it (rounded to nearest, then widened to
    float64, exactly), before any check, as binary FP32 data can only be: the same
    tensor gets the same answer whichever way it is sent (100.000001 is 100.0 either
    way). What is not a number, or has no FP32 form, stays as sent for the checks to
    refuse by name (beyond FP32's range is beyond the allowed one)."""
    if set(map(type, values)) <= {int, float}:
        try:
            wide = np.array(values, dtype=np.float64)
        except OverflowError:  # an integer beyond float64's range
            return [_fp32(value) for value in values]
        with np.errstate(over="ignore"):
            narrow = wide.astype(np.float32).astype(np.float64)
        return np.where(np.abs(wide) <= _FP32_MAX, narrow, wide).tolist()
    return [_fp32(value) for value in values]  # refused below; found value by value


def _fp32(value: object) -> object:
    if type(value) in (int, float) and abs(value) <= _FP32_MAX:
        return float(np.float32(value))
    return value


def _binary_values(
    binary: bytes | None, size: int, length: int, datatype: str, name: str
) -> list[float]:
    """Tensor data given as binary: `length` little-endian values after the JSON, as
    Python floats (so they take the very path JSON numbers take)."""
    if binary is None:
        raise bad_request(
            f"{name}: binary_data_size needs the {HEADER_LENGTH} header, "
            "which says where the JSON ends"
        )
    dtype = np.dtype(INPUT_DATATYPES[datatype])
    if size != length * dtype.itemsize:
        raise bad_request(
            f"{name}: binary_data_size is {size}; {length} {datatype} values "
            f"are {length * dtype.itemsize} bytes"
        )
    if len(binary) != size:
        raise bad_request(
            f"{name}: binary_data_size is {size}, but {len(binary)} bytes follow the JSON"
        )
    return np.frombuffer(binary, dtype=dtype).astype(np.float64).tolist()


def _checked(values: list, where: Callable[[int], str]) -> np.ndarray:
    """Flat values -> a float64 vector, checked as /predict checks an instance's values:
    in bulk when all is well, else one by one, which names the first bad value (in
    /predict's words; its 422 is the protocol's 400, app/errors.py)."""
    vector = plain_numbers(values)
    if vector is not None:
        return vector
    return np.array([number(value, where(position)) for position, value in enumerate(values)])


def _requested(
    outputs: object, binary_default: bool, served: ServedModel
) -> tuple[RequestedOutput, ...]:
    """The outputs to answer with: those asked for, in that order, or all of them."""
    offered = [tensor["name"] for tensor in output_tensors(served)]
    if outputs is None:
        return tuple(RequestedOutput(name, binary_default) for name in offered)
    if not isinstance(outputs, list) or not outputs:
        raise bad_request(
            "outputs must be a non-empty list of {name, parameters}; leave it out for all"
        )
    requested: list[RequestedOutput] = []
    for entry in outputs:
        if not isinstance(entry, dict):
            raise bad_request("outputs: each must be an object {name, parameters}")
        _unknown_field(entry, OUTPUT_FIELDS, "an output")
        name = entry.get("name")
        if type(name) is not str or name not in offered:
            raise bad_request(
                f"unknown output {_shown(name)}; the outputs are {', '.join(offered)}"
            )
        if any(output.name == name for output in requested):
            raise bad_request(f"output {name!r} is asked for twice")
        parameters = _parameters(entry.get("parameters"), OUTPUT_PARAMETERS, name)
        requested.append(RequestedOutput(name, parameters.get("binary_data", binary_default)))
    return tuple(requested)


def _class_names(served: ServedModel, result: Classified) -> list[str]:
    return [served.class_names[index] for index in result.indices.tolist()]


def _numbers(name: str, datatype: str, result: Classified) -> np.ndarray:
    """The label (class indices) or the probabilities, in the datatype the graph gives."""
    source = result.indices if name == LABEL else result.probabilities
    return source.astype(_BINARY_TYPES[datatype])


def _json_data(name: str, datatype: str, served: ServedModel, result: Classified) -> list:
    """An output as JSON data: flat, in row-major order, as Triton answers (the protocol
    allows nested lists too)."""
    if name == CLASS_NAME:
        return _class_names(served, result)
    return _numbers(name, datatype, result).ravel().tolist()


def _binary_data(name: str, datatype: str, served: ServedModel, result: Classified) -> bytes:
    """An output as binary tensor data: little-endian values; BYTES elements each as
    their length (4 bytes, little-endian unsigned) followed by the bytes."""
    if name == CLASS_NAME:
        encoded = [class_name.encode() for class_name in _class_names(served, result)]
        return b"".join(struct.pack("<I", len(item)) + item for item in encoded)
    return _numbers(name, datatype, result).tobytes()


def encode(request: InferenceRequest, served: ServedModel, result: Classified) -> Answer:
    """The inference response: the outputs asked for, JSON data or binary after the JSON."""
    tensors = {tensor["name"]: tensor for tensor in output_tensors(served)}
    count = len(result.indices)
    outputs, chunks = [], []
    for wanted in request.outputs:
        tensor = tensors[wanted.name]
        entry = {
            "name": wanted.name,
            "datatype": tensor["datatype"],
            # The signature's -1 is the batch; the other dimensions are as it gives them.
            "shape": [count, *tensor["shape"][1:]],
        }
        if wanted.binary:
            chunk = _binary_data(wanted.name, tensor["datatype"], served, result)
            entry["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            entry["data"] = _json_data(wanted.name, tensor["datatype"], served, result)
        outputs.append(entry)
    response: dict = {"model_name": served.name, "model_version": served.version}
    if request.id is not None:
        response["id"] = request.id
    response["outputs"] = outputs
    header = orjson.dumps(response)
    if not chunks:
        return Answer(header, None)
    return Answer(header + b"".join(chunks), len(header))
