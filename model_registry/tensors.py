"""The typed signature of a version: each tensor of model.onnx, its datatype and shape.

metadata.json's `signature.inputs` and `signature.outputs` name the columns (features)
and the classes; `signature.tensors` says what crosses the wire, as MLflow's typed
signatures do: for each input and output tensor of the graph, its name, its datatype
in the Open Inference Protocol's names (FP64, FP32, INT64, BYTES, ...) and its shape,
-1 for a dimension of any size (the batch). Training reads it off the exported graph;
serving refuses a version whose graph does not have exactly these tensors, and shows
them to clients (the V2 model metadata, the OpenAPI document).

Versions published before the key existed have none: `tensors_of` gives what their
graph has, the one shape FORMAT.md has always promised.
"""

from __future__ import annotations

from typing import Any

from model_registry.format import RegistryError

# ONNX Runtime's type names -> the Open Inference Protocol's datatypes.
ONNX_DATATYPES = {
    "tensor(double)": "FP64",
    "tensor(float)": "FP32",
    "tensor(float16)": "FP16",
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}
# The graph's tensors by role, as training exports it (training/export_onnx.py).
INPUT, LABEL, PROBABILITIES = "X", "label", "probabilities"
# The datatypes each may have. The input is FP64 only: serving validates rows as float64
# and feeds them as they are (a graph taking FP32 would be refused at its first run).
# The graph may give its probabilities in either float, and class indices.
INPUT_TYPES = ("FP64",)
FLOAT_TYPES = ("FP64", "FP32")
LABEL_TYPES = ("INT64", "INT32")


def _tensor(node) -> dict[str, Any]:
    shape = [size if isinstance(size, int) and size > 0 else -1 for size in node.shape]
    return {"name": node.name, "datatype": ONNX_DATATYPES.get(node.type, node.type), "shape": shape}


def graph_tensors(session) -> dict[str, list[dict[str, Any]]]:
    """The tensors of an ONNX Runtime session's graph, in signature form."""
    return {
        "inputs": [_tensor(node) for node in session.get_inputs()],
        "outputs": [_tensor(node) for node in session.get_outputs()],
    }


def default_tensors(n_features: int, n_classes: int) -> dict[str, list[dict[str, Any]]]:
    """What the graph of a version without `signature.tensors` has (FORMAT.md)."""
    return {
        "inputs": [{"name": INPUT, "datatype": "FP64", "shape": [-1, n_features]}],
        "outputs": [
            {"name": LABEL, "datatype": "INT64", "shape": [-1]},
            {"name": PROBABILITIES, "datatype": "FP64", "shape": [-1, n_classes]},
        ],
    }


def tensors_of(signature: dict) -> dict[str, list[dict[str, Any]]]:
    """The version's typed tensors: as recorded, or the default of older versions."""
    recorded = signature.get("tensors")
    if recorded is not None:
        return recorded
    return default_tensors(len(signature["inputs"]), len(signature["outputs"]))


def describe(tensors: dict) -> str:
    """Tensors on one line: "X FP64 [-1, 4] -> label INT64 [-1], probabilities FP64 [-1, 3]"."""

    def side(part: str) -> str:
        return ", ".join(f"{t['name']} {t['datatype']} {t['shape']}" for t in tensors[part])

    return f"{side('inputs')} -> {side('outputs')}"


def _by_name(tensors: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {tensor["name"]: tensor for tensor in tensors}


def check_tensors(signature: dict, label: str) -> None:
    """RegistryError unless the typed tensors are well formed and agree with the names.

    One input, rows x features (floats); a label per row (class index) and
    probabilities, rows x classes (floats): what every reader of a version relies on.
    """
    tensors = tensors_of(signature)
    where = f"{label}: metadata signature.tensors"
    if not (isinstance(tensors, dict) and set(tensors) == {"inputs", "outputs"}):
        raise RegistryError(f"{where} is not {{inputs, outputs}}")
    for part in ("inputs", "outputs"):
        entries = tensors[part]
        if not isinstance(entries, list) or not entries:
            raise RegistryError(f"{where}.{part} is not a non-empty list")
        for entry in entries:
            if not (
                isinstance(entry, dict)
                and set(entry) == {"name", "datatype", "shape"}
                and type(entry["name"]) is str
                and type(entry["datatype"]) is str
                and isinstance(entry["shape"], list)
                and all(type(size) is int and (size == -1 or size > 0) for size in entry["shape"])
            ):
                raise RegistryError(f"{where}.{part}: {entry!r} is not {{name, datatype, shape}}")
    n_features, n_classes = len(signature["inputs"]), len(signature["outputs"])
    inputs, outputs = tensors["inputs"], _by_name(tensors["outputs"])
    if len(inputs) != 1 or inputs[0]["datatype"] not in INPUT_TYPES:
        raise RegistryError(f"{where}: expected one input of {' or '.join(INPUT_TYPES)}")
    if inputs[0]["shape"] != [-1, n_features]:
        raise RegistryError(
            f"{where}: input shape {inputs[0]['shape']} is not [-1, {n_features}] (the features)"
        )
    label_tensor, probabilities = outputs.get(LABEL), outputs.get(PROBABILITIES)
    if not label_tensor or label_tensor["datatype"] not in LABEL_TYPES:
        raise RegistryError(f"{where}: no {LABEL!r} output of {' or '.join(LABEL_TYPES)}")
    if label_tensor["shape"] != [-1]:
        raise RegistryError(f"{where}: {LABEL!r} shape {label_tensor['shape']} is not [-1]")
    if not probabilities or probabilities["datatype"] not in FLOAT_TYPES:
        raise RegistryError(f"{where}: no {PROBABILITIES!r} output of floats")
    if probabilities["shape"] != [-1, n_classes]:
        raise RegistryError(
            f"{where}: {PROBABILITIES!r} shape {probabilities['shape']} "
            f"is not [-1, {n_classes}] (the classes)"
        )
