"""JSON text for output: orjson (fast, in C), with the standard library for what it refuses.

orjson writes UTF-8 as is (as `ensure_ascii=False` does), keeps field order, and spaces as
`json` does with indent=2; its one-line form has no spaces after `,` and `:`. It refuses
what is not valid UTF-8 (a lone surrogate, as a file name Python could not decode holds):
such a value is written by `json` instead, with the same content.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def line(value: Any) -> str:
    """One line of JSON (no newline)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def document(value: Any) -> str:
    """A JSON document indented by two spaces (no final newline)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, indent=2)
