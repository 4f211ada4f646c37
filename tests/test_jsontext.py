"""The one JSON reader and writer: what JSON does not have (NaN, Infinity), what breaks a
trusting reader (5,000 digits, 100,000 brackets, bad UTF-8, lone surrogates) is refused
with a sentence; what we write never holds NaN."""

from __future__ import annotations

import json
import math

import pytest

from engine.jsontext import MAX_DEPTH, MAX_INT_DIGITS, JSONRefused, dump_json, finite, parse_json


@pytest.mark.parametrize(
    "text",
    ["NaN", "[Infinity]", '{"x": -Infinity}', "1e999", "-1e999", '{"a": [1' + "0" * 400 + ".5]}"],
)
def test_non_finite_numbers_are_refused(text: str) -> None:
    with pytest.raises(JSONRefused, match="finite"):
        parse_json(text)


def test_a_number_with_too_many_digits_is_refused_saying_how_many() -> None:
    with pytest.raises(JSONRefused, match="5000 digits"):
        parse_json("9" * 5000)
    assert parse_json("-" + "9" * MAX_INT_DIGITS) == -int("9" * MAX_INT_DIGITS)


def test_a_seed_as_large_as_comfyuis_is_read() -> None:
    assert parse_json(str(2**64 - 1)) == 2**64 - 1


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_runaway_nesting_is_refused_without_a_recursion_error(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    with pytest.raises(JSONRefused, match="nested too deeply"):
        parse_json(opening * 100_000 + "1" + closing * 100_000)


def test_nesting_up_to_the_limit_is_read_and_one_more_level_is_refused() -> None:
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(JSONRefused, match="nested too deeply"):
        parse_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


def test_bytes_that_are_not_utf8_are_refused_naming_the_byte_and_its_position() -> None:
    with pytest.raises(JSONRefused, match="byte 0xff at position 7"):
        parse_json(b'{"a": "\xff"}')


@pytest.mark.parametrize("text", ['"\\ud800"', '{"\\udfff": 1}', '["ok", {"a": "x\\ud83dy"}]'])
def test_lone_surrogates_are_refused_in_keys_and_texts(text: str) -> None:
    with pytest.raises(JSONRefused, match="lone surrogate"):
        parse_json(text)


def test_an_escaped_surrogate_pair_is_one_character() -> None:
    assert parse_json('"\\ud83d\\ude00"') == "\U0001f600"


def test_a_utf8_byte_order_mark_is_ignored() -> None:
    assert parse_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


def test_text_that_is_not_json_is_refused_saying_where() -> None:
    with pytest.raises(JSONRefused, match=r"not valid JSON: .*line 1 column 6"):
        parse_json('{"a" 1}')


def test_what_is_written_never_holds_nan_or_infinity() -> None:
    text = dump_json({"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": "NaN"})
    assert json.loads(text, parse_constant=pytest.fail) == {
        "a": None,
        "b": [None, None, 1.5],
        "c": "NaN",
    }


def test_finite_replaces_non_finite_floats_at_any_depth_and_keeps_the_rest() -> None:
    value = {"x": [{"y": (math.nan, 2)}], "z": True, "w": 3}
    assert finite(value) == {"x": [{"y": [None, 2]}], "z": True, "w": 3}
