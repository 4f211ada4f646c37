"""JSON in and out, one way for everything: an HTTP body, a workflow file, a PNG's text
chunk, a `--set` value are read by `parse_json`; what we write goes through `dump_json`.

Python's `json` accepts what JSON does not (NaN, Infinity) and fails badly on what a
hostile client sends: a 5,000-digit number raises a bare ValueError, 100,000 brackets a
RecursionError, and a lone surrogate (`"\\ud800"`) decodes into a str that nothing can
encode later (SQLite, the response writer). `parse_json` refuses all of these at the door
with a `JSONRefused` that says what is wrong; `dump_json` never writes NaN or Infinity,
which every browser's `JSON.parse` rejects.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

MAX_DEPTH = 100  # objects and arrays inside each other; real workflows need about 8
MAX_INT_DIGITS = 64  # far past any seed (2**64 has 20 digits), far below Python's 4300
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # how a lone surrogate can arrive
_BOM = "\ufeff"


class JSONRefused(ValueError):
    """Text that is not JSON we accept; the message says why (and where, when known)."""


def parse_json(data: str | bytes) -> Any:
    """The decoded value of `data` (bytes must be UTF-8), or a JSONRefused."""
    text = _decoded(data) if isinstance(data, bytes | bytearray) else data
    text = text.removeprefix(_BOM)
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_bounded_int,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as exc:
        raise JSONRefused(f"not valid JSON: {exc}") from None
    except RecursionError:
        _too_deep()
    _check_structure(value, strings=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def dump_json(value: Any, *, indent: int | None = None) -> str:
    """JSON text of `value`, non-finite floats written as null (JSON has no NaN)."""
    try:
        return json.dumps(value, indent=indent, allow_nan=False)
    except ValueError:
        return json.dumps(finite(value), indent=indent, allow_nan=False)


def finite(value: Any) -> Any:
    """`value` with every NaN or infinite float (at any depth) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def _decoded(data: bytes | bytearray) -> str:
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start]
        raise JSONRefused(
            f"not UTF-8 text: byte 0x{bad:02x} at position {exc.start} is not valid UTF-8"
        ) from None


def _refuse_constant(name: str) -> NoReturn:
    raise JSONRefused(f"{name} is not a JSON number; numbers must be finite")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JSONRefused(
            f"the number {text[:20]}... has {len(text)} digits; at most {MAX_INT_DIGITS} "
            "are accepted"
        )
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 24 else text[:20] + "..."
        raise JSONRefused(f"the number {shown} is too large to be a finite number")
    return value


def _too_deep() -> NoReturn:
    raise JSONRefused(f"nested too deeply: at most {MAX_DEPTH} levels of objects and arrays")


def _check_structure(value: Any, *, strings: bool) -> None:
    """Depth within MAX_DEPTH and, when `strings`, no lone surrogate in any key or text.
    Iterative, so that the check itself cannot run out of stack."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                _too_deep()
            if isinstance(item, dict):
                if strings:
                    for key in item:
                        _check_text(key)
                pending.extend((child, depth + 1) for child in item.values())
            else:
                pending.extend((child, depth + 1) for child in item)
        elif strings and isinstance(item, str):
            _check_text(item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise JSONRefused(
            f"text holds a lone surrogate (\\u{code:04x}), which is not a character; "
            "send valid Unicode"
        ) from None
