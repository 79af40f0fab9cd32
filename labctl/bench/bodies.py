"""The requests the bench sends: one iris row, as each server wants it."""

from __future__ import annotations

import json

ROW = [5.1, 3.5, 1.4, 0.2]
# The classic lab's form fields.
FORM = "sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2"
JSON = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


def predict(rows: int) -> str:
    """Our /predict body: `rows` rows."""
    return json.dumps({"instances": [ROW] * rows})


def v2_infer(rows: int, outputs: tuple[str, ...]) -> str:
    """An Open Inference Protocol V2 request: `rows` rows as one FP64 tensor, asking for
    the named outputs (each server names its label and probabilities its own way)."""
    return json.dumps(
        {
            "inputs": [
                {"name": "X", "shape": [rows, len(ROW)], "datatype": "FP64", "data": ROW * rows}
            ],
            "outputs": [{"name": name} for name in outputs],
        }
    )
