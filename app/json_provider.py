"""JSON answers encoded with orjson.

A 1,000-row answer took ~2 ms to encode with the standard library, 40% of the
request; orjson does it in a tenth of that. Only encoding changes: request bodies
are still parsed by app.validation with the standard library, which is what gives
NaN and Infinity their 422 (orjson would refuse them as malformed JSON).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider, with orjson's encoder: compact, keys in insertion order."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        # kwargs (indent, sort_keys, ...) are Flask's stdlib options: the answers are
        # always compact, with keys in the order the code builds them.
        return orjson.dumps(obj, default=self.default).decode()
