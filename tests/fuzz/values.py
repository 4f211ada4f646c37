"""Hostile JSON, as text and as values: what a confused or malicious client sends.

`Raw` holds JSON text that Python's encoder cannot produce (NaN, 5,000-digit numbers, lone
surrogates, 100,000 brackets); `to_text` writes a value holding such pieces."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from typing import Any

DEEP = 100_000  # brackets: far past Python's recursion limit


@dataclass(frozen=True)
class Raw:
    text: str


def to_text(value: Any) -> str:
    """JSON text of `value`, with each `Raw` piece written as it is."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {to_text(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_text(v) for v in value) + "]"
    return json.dumps(value)


def to_body(value: Any) -> bytes:
    return to_text(value).encode("utf-8", "surrogatepass")


# Values that break a reader that trusts its input: non-finite and huge numbers, deep
# nesting, lone surrogates, control characters, wrong container types.
EVIL_VALUES: tuple[Any, ...] = (
    Raw("NaN"),
    Raw("Infinity"),
    Raw("-Infinity"),
    Raw("1e999"),
    Raw("-1e999"),
    Raw("9" * 5000),
    Raw("-" + "1" * 5000),
    Raw("1" * 5000 + ".5"),
    Raw("[" * DEEP + "]" * DEEP),
    Raw('{"a":' * 2000 + "1" + "}" * 2000),
    Raw('"\\ud800"'),
    Raw('"x\\udfffy"'),
    Raw('{"\\ud800": 1}'),
    {},
    {"node": "1"},
    {"node": 1, "output": 2},
    {"node": "nope", "output": "nope", "extra": True},
    [],
    [1],
    ["1", 0, 2],
    ["nope", 99],
    ["1", -1],
    [{"a": []}],
    None,
    True,
    False,
    0,
    -1,
    2**64,
    -(2**63) - 1,
    1.5e308,
    5e-324,
    "",
    "\x00",
    "a\x00b",
    "\u202e\u0000\x7f",
    "../../../etc/passwd",
    "x" * 70_000,
    "😀" * 50,
    "\ud800",
    "\udcff\ud800x",
)

EVIL_KEYS = ("", "\x00", "\ud800", "_meta", "class_type", "inputs", "x" * 300, "unexpected")

# Whole bodies that are not one valid JSON document at all.
BAD_BODIES: tuple[bytes, ...] = (
    b"",
    b"   ",
    b"{",
    b'{"prompt": ',
    b"{bad json",
    b"\xff\xfe\x00{",
    b'{"prompt": "\xff\xfe"}',
    b'{"client_id": "\xed\xa0\x80"}',  # a surrogate encoded in UTF-8: not UTF-8
    b"\xef\xbb\xbf{}",  # a byte-order mark
    b"NaN",
    b'{"prompt": NaN}',
    b'{"extra_data": {"x": NaN}}',
    b'{"extra_data": {"x": Infinity}, "prompt": {}}',
    b'{"a": 1}{"a": 2}',
    b"[" * DEEP,
    b"[" * DEEP + b"]" * DEEP,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"9" * 5000,
    b'{"prompt": ' + b"9" * 5000 + b"}",
    b'"\\ud800"',
    b'{"client_id": "\\ud800", "prompt": {}}',
    b"\x00" * 64,
    b"null",
    b"true",
    b"[]",
    b'"a string"',
    b"1e999",
)


def mutate(document: Any, rng: random.Random, count: int = 1) -> Any:
    """A copy of `document` with `count` places replaced by evil values, deleted, or
    given a wrong container type (places chosen by `rng`)."""
    changed = copy.deepcopy(document)
    for _ in range(count):
        changed = _mutate_once(changed, rng)
    return changed


def evil_value(rng: random.Random) -> Any:
    """One of EVIL_VALUES, copied: a later mutation may change it in place."""
    return copy.deepcopy(rng.choice(EVIL_VALUES))


def _mutate_once(document: Any, rng: random.Random) -> Any:
    path = _random_path(document, rng)
    if not path:
        return evil_value(rng)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    roll = rng.random()
    if roll < 0.15 and isinstance(parent, dict):
        del parent[key]
    elif roll < 0.25 and isinstance(parent, dict):
        parent[rng.choice(EVIL_KEYS)] = evil_value(rng)
        parent[key] = evil_value(rng)
    else:
        parent[key] = evil_value(rng)
    return document


def _random_path(document: Any, rng: random.Random) -> list[Any]:
    path: list[Any] = []
    node = document
    while isinstance(node, dict | list) and node and rng.random() < 0.8:
        key = rng.choice(list(node.keys()) if isinstance(node, dict) else range(len(node)))
        path.append(key)
        node = node[key]
    return path
