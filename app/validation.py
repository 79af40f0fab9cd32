"""Turn a request body into a float matrix, or say exactly what is wrong with it.

/predict's instances and the Open Inference Protocol's tensors (app/v2_protocol.py)
go through the same checks: numbers only (a JSON boolean is not one), finite, within
FEATURE_MIN..FEATURE_MAX, at most MAX_BATCH_SIZE rows.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from app.errors import APIError

JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Every feature is a length in centimetres, accepted from FEATURE_MIN to FEATURE_MAX
# inclusive. This is the one definition: validation enforces it, and the error
# messages and the web form's min/max show it. No part of an iris is longer than a
# metre, and a model fed 1e200 answers with certainty (or NaN) about no real flower.
FEATURE_MIN, FEATURE_MAX = 0.0, 100.0
FEATURE_UNIT = "cm"
ALLOWED_RANGE = f"{FEATURE_MIN:g} to {FEATURE_MAX:g} {FEATURE_UNIT}"
# What a form field may hold to be a number: plain ASCII decimal, with an optional
# sign, fraction and exponent. float() alone would also take "5_1" (as 51), "nan",
# "inf" and digits of any script (Arabic-Indic, full-width, ...).
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Around a form value, only ASCII whitespace is ignored.
_ASCII_SPACE = " \t\n\r\f\v"
_JSON_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    type(None): "null",
    list: "a list",
    dict: "an object",
}


def invalid(message: str) -> APIError:
    return APIError(422, "invalid_instance", message)


def malformed(message: str) -> APIError:
    return APIError(400, "malformed_json", message)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object, refused when a key appears twice (json would keep the last silently)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise malformed(f"duplicate key {key!r} in a JSON object; each key may appear once")
            seen.add(key)
    return document


def parse_json_body(body: bytes) -> object:
    """Decode a JSON body; malformed, non-UTF-8 or absurdly nested input is a 400.

    UTF-8 only, as the README says: json.loads would also guess UTF-16 and UTF-32
    and skip a byte order mark, so the bytes are decoded here, strictly.
    """
    if not body.strip():
        raise malformed("the request body is empty; send JSON")
    if body.startswith(codecs.BOM_UTF8):
        raise malformed("the request body starts with a byte order mark; send UTF-8 without one")
    if b"\x00" in body:  # JSON never has a NUL byte; UTF-16 and UTF-32 text always does
        raise malformed("the request body is not UTF-8 (it has NUL bytes: UTF-16 or UTF-32?)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed("the request body is not UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise malformed("the JSON is nested too deeply") from None
    except ValueError as exc:
        raise malformed(f"the body is not valid JSON: {exc}") from None


def number(value: object, where: str) -> float:
    """One JSON value as a float: a number (not a boolean), finite, within the allowed
    range; else a 422 naming where it is and what is wrong."""
    if type(value) is float:
        number = value
    elif type(value) is int:
        try:
            number = float(value)
        except OverflowError:
            raise invalid(f"{where}: {value} is out of range") from None
    else:
        kind = _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
        raise invalid(f"{where}: expected a number, got {kind}")
    if not math.isfinite(number):
        raise invalid(f"{where}: must be a finite number, got {value}")
    return in_range(number, where)


def in_range(number: float, where: str) -> float:
    """The number, if it is within the allowed range; else a 422 naming where and the range."""
    if not FEATURE_MIN <= number <= FEATURE_MAX:
        raise invalid(f"{where}: {number!r} is outside the allowed range, {ALLOWED_RANGE}")
    return number


def _row(instance: object, index: int, features: Sequence[str]) -> list[float]:
    if isinstance(instance, list):
        if len(instance) != len(features):
            raise invalid(
                f"instance {index}: expected {len(features)} values "
                f"({', '.join(features)}), got {len(instance)}"
            )
        values = instance
    elif isinstance(instance, dict):
        unknown = [key for key in instance if key not in features]
        if unknown:
            raise invalid(
                f"instance {index}: unknown feature {unknown[0]!r}; expected {', '.join(features)}"
            )
        missing = [name for name in features if name not in instance]
        if missing:
            raise invalid(f"instance {index}: missing feature {missing[0]!r}")
        values = [instance[name] for name in features]
    else:
        kind = _JSON_TYPE_NAMES.get(type(instance), type(instance).__name__)
        raise invalid(
            f"instance {index}: expected a list of {len(features)} numbers "
            f"or an object of named features, got {kind}"
        )
    return [
        number(value, f"instance {index}, {features[position]}")
        for position, value in enumerate(values)
    ]


_NUMBER_TYPES = {float, int}  # bool is a subclass of int, but type(True) is bool


def _inside(array: np.ndarray) -> np.ndarray:
    """Which values are within the allowed range. NaN compares false: a non-finite value
    is out of range too."""
    return (array >= FEATURE_MIN) & (array <= FEATURE_MAX)


def plain_numbers(values: list) -> np.ndarray | None:
    """JSON values checked in bulk: all numbers, all in range -> a float64 vector.

    About 20x cheaper than one by one (number()) for a 1,000-row batch. None means "look
    closer": checking value by value then finds the first problem and names it.
    """
    if not set(map(type, values)) <= _NUMBER_TYPES:
        return None
    try:
        vector = np.array(values, dtype=np.float64)
    except OverflowError:  # an integer beyond float64's range
        return None
    return vector if _inside(vector).all() else None


def plain_rows(instances: list, width: int) -> np.ndarray | None:
    """The common case checked in bulk: lists of `width` JSON numbers, all in range.

    None means "look closer": the row-by-row path then finds the first problem and names it.
    """
    if not all(type(instance) is list and len(instance) == width for instance in instances):
        return None
    vector = plain_numbers([value for instance in instances for value in instance])
    return None if vector is None else vector.reshape(len(instances), width)


def batch_within(count: int, max_batch: int) -> None:
    """A 413 when a request carries more than max_batch instances: MAX_BATCH_SIZE bounds
    the work and memory of one request, whichever API it comes through."""
    if count > max_batch:
        raise APIError(
            413,
            "batch_too_large",
            f"{count} instances in one request; the limit is {max_batch}",
        )


def instances_from_json(payload: object, features: Sequence[str], max_batch: int) -> np.ndarray:
    """{"instances": [[...], {...}, ...]} -> an (n, len(features)) float matrix."""
    if not isinstance(payload, dict):
        raise invalid('the body must be an object: {"instances": [...]}')
    extra = [key for key in payload if key != "instances"]
    if extra:
        raise invalid(f'unknown field {extra[0]!r}: the body is {{"instances": [...]}}')
    instances = payload.get("instances")
    if not isinstance(instances, list):
        raise invalid('"instances" must be a list of instances')
    if not instances:
        raise invalid('"instances" is empty: send at least one instance')
    batch_within(len(instances), max_batch)
    matrix = plain_rows(instances, len(features))
    if matrix is not None:
        return matrix
    rows = [_row(instance, index, features) for index, instance in enumerate(instances)]
    return np.asarray(rows, dtype=np.float64)


def instance_from_form(form: Mapping[str, str], features: Sequence[str]) -> np.ndarray:
    """The classic lab's form fields (one flower) -> a (1, len(features)) float matrix."""
    unknown = [key for key in form if key not in features]
    if unknown:
        raise invalid(f"unknown form field {unknown[0]!r}; expected {', '.join(features)}")
    values = []
    for name in features:
        text = form.get(name, "").strip(_ASCII_SPACE)
        if not text:
            raise invalid(f"form field {name!r} is missing")
        if not _DECIMAL.fullmatch(text):
            raise invalid(
                f"form field {name!r}: {text[:40]!r} is not a number (plain decimal, e.g. 5.1)"
            )
        number = float(text)
        if not math.isfinite(number):
            raise invalid(f"form field {name!r}: must be a finite number")
        values.append(in_range(number, f"form field {name!r}"))
    return np.asarray([values], dtype=np.float64)
