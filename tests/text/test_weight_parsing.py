"""Prompt weighting syntax, read as ComfyUI reads it: the table is prompt -> pieces."""

from __future__ import annotations

import pytest

from nodes.ops.text.weighting import MAX_NESTING, parse_weights

TABLE = [
    ("a red car", [("a red car", 1.0)]),
    ("", []),
    ("a (red:1.5) car", [("a ", 1.0), ("red", 1.5), (" car", 1.0)]),
    ("(word)", [("word", 1.1)]),
    ("((word))", [("word", 1.21)]),
    ("(((word)))", [("word", 1.331)]),
    ("(foo)(bar)", [("foo", 1.1), ("bar", 1.1)]),
    ("(foo:0.0)", [("foo", 0.0)]),
    ("(foo:-1)", [("foo", -1.0)]),
    ("(foo: 1.5 )", [("foo", 1.5)]),
    # An explicit number sets the group's weight; parentheses outside a number multiply.
    ("((foo):1.1)", [("foo", 1.21)]),
    ("((foo:1.1))", [("foo", 1.1)]),
    ("((foo:1.0):0.0)", [("foo", 1.0)]),
    (
        "foo ((((lol (cat:666) attack:100)))) baz",
        [("foo ", 1.0), ("lol ", 100.0), ("cat", 666.0), (" attack", 100.0), (" baz", 1.0)],
    ),
    (
        "foo ((((lol (cat:666) attack):100))) baz",
        [("foo ", 1.0), ("lol ", 110.0), ("cat", 666.0), (" attack", 110.0), (" baz", 1.0)],
    ),
    ("(a (b:1.5) c)", [("a ", 1.1), ("b", 1.5), (" c", 1.1)]),
]

LITERAL = [
    # A weight that is no number stays text, inside a x1.1 group.
    ("(word:abc)", [("word:abc", 1.1)]),
    ("(word:)", [("word:", 1.1)]),
    ("(:2)", [(":2", 1.1)]),
    ("(word:nan)", [("word:nan", 1.1)]),
    ("(word:inf)", [("word:inf", 1.1)]),
    ("time 12:30", [("time 12:30", 1.0)]),
    # Unbalanced parentheses are characters.
    ("(open group", [("(open group", 1.0)]),
    ("a) b", [("a) b", 1.0)]),
    ("a) (b) (c)", [("a) (b) (c)", 1.0)]),
    ("()", []),
]

ESCAPES = [
    (r"\(literal\)", [("(literal)", 1.0)]),
    (r"a \(b\) (c:2)", [("a (b) ", 1.0), ("c", 2.0)]),
    (r"(\(x\):1.3)", [("(x)", 1.3)]),
    (r"(smile \:\))", [(r"smile \:)", 1.1)]),
]


def _check(prompt: str, expected: list[tuple[str, float]]) -> None:
    got = parse_weights(prompt)
    assert [text for text, _ in got] == [text for text, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected])


@pytest.mark.parametrize(("prompt", "expected"), TABLE, ids=[p for p, _ in TABLE])
def test_weights_are_read_as_comfyui_reads_them(
    prompt: str, expected: list[tuple[str, float]]
) -> None:
    _check(prompt, expected)


@pytest.mark.parametrize(("prompt", "expected"), LITERAL, ids=[p for p, _ in LITERAL])
def test_malformed_weights_stay_literal_text(
    prompt: str, expected: list[tuple[str, float]]
) -> None:
    _check(prompt, expected)


@pytest.mark.parametrize(("prompt", "expected"), ESCAPES, ids=[p for p, _ in ESCAPES])
def test_escaped_parentheses_are_literal(prompt: str, expected: list[tuple[str, float]]) -> None:
    _check(prompt, expected)


def test_an_embedding_reference_keeps_its_weight() -> None:
    _check(
        "a (embedding:cat_ti:1.4), indoors",
        [("a ", 1.0), ("embedding:cat_ti", 1.4), (", indoors", 1.0)],
    )


def test_nesting_past_the_limit_is_refused_with_a_sentence() -> None:
    deep = "(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1)
    with pytest.raises(ValueError, match=f"nests parentheses {MAX_NESTING + 1} deep"):
        parse_weights(deep)
    assert parse_weights("(" * MAX_NESTING + "x" + ")" * MAX_NESTING)[0][0] == "x"


def test_a_megabyte_of_parentheses_is_refused_quickly() -> None:
    import time

    start = time.perf_counter()
    with pytest.raises(ValueError):
        parse_weights("(" * 1_000_000)
    assert time.perf_counter() - start < 2.0
