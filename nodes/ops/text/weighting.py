"""Prompt weighting as ComfyUI reads it: `(word:1.2)`, `(word)` = x1.1, `((word))` = x1.21.

Parsing: a group in parentheses multiplies the weight around it by 1.1, unless its text
ends in `:number`, which then sets the group's weight outright (so `((word:1.5))` is 1.5,
while `((word):1.5)` is 1.65). `\\(` and `\\)` are literal parentheses. Anything that does
not parse stays literal text, as in ComfyUI: `(word:abc)` is the text `word:abc` at x1.1, an
unclosed `(` is a plain character. Weights that are not finite numbers (`nan`, `inf`) stay
literal too, where ComfyUI would turn the whole conditioning into NaN.

Encoding: the prompt is encoded as usual, then each token whose weight is not 1 is moved
away from (w > 1) or towards (w < 1) the empty prompt's encoding at the same position:
z = (z - z_empty) * w + z_empty. Tokens of weight 1 are left bit for bit as they were.
"""

from __future__ import annotations

import itertools
import math
import re

import torch

GROUP_FACTOR = 1.1  # what a pair of parentheses without a number multiplies by
# ComfyUI recurses once per level (and fails near Python's 1,000); no real prompt nests
# this deep, and a bound keeps a pathological text from costing minutes.
MAX_NESTING = 100
_ESCAPES = (("\\)", "\0\1"), ("\\(", "\0\2"))  # escaped parentheses hide from the parser
_PARENTHESIS = re.compile(r"[()]")

Weighted = list[tuple[str, float]]


def parse_weights(text: str) -> Weighted:
    """The prompt as (text, weight) pieces in order, parentheses and weights removed."""
    for escaped, stand_in in _ESCAPES:
        text = text.replace(escaped, stand_in)
    depth = max(
        itertools.accumulate(1 if c == "(" else -1 for c in _PARENTHESIS.findall(text)),
        default=0,
    )
    if depth > MAX_NESTING:
        raise ValueError(
            f"the prompt nests parentheses {depth} deep; at most {MAX_NESTING} levels are read"
        )
    pieces = _weigh(text, 1.0)
    for escaped, stand_in in _ESCAPES:
        pieces = [(piece.replace(stand_in, escaped[1]), w) for piece, w in pieces]
    return pieces


def _weigh(text: str, weight: float) -> Weighted:
    pieces: Weighted = []
    for item in _top_level_items(text):
        if len(item) >= 2 and item[0] == "(" and item[-1] == ")":
            inner, inner_weight = item[1:-1], weight * GROUP_FACTOR
            colon = inner.rfind(":")  # the last colon, even one inside a nested group
            given = _finite_number(inner[colon + 1 :]) if colon > 0 else None
            if given is not None:
                inner, inner_weight = inner[:colon], given
            pieces.extend(_weigh(inner, inner_weight))
        else:
            pieces.append((item, weight))
    return pieces


def _top_level_items(text: str) -> list[str]:
    """`text` cut into its outermost groups and the text between them. A `)` without its
    `(` drives the level below zero, and what follows is read at that level: ComfyUI's
    scanner does the same, and shared prompts rely on it staying literal."""
    items: list[str] = []
    start = level = 0
    for match in _PARENTHESIS.finditer(text):
        at = match.start()
        if text[at] == "(":
            if level == 0:
                if at > start:
                    items.append(text[start:at])
                start = at
            level += 1
        else:
            level -= 1
            if level == 0:
                items.append(text[start : at + 1])
                start = at + 1
    if start < len(text):
        items.append(text[start:])
    return items


def _finite_number(text: str) -> float | None:
    """`text` as a weight, the way Python's float() reads it (spaces around are fine)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def any_weighted(weights: list[float] | torch.Tensor) -> bool:
    if isinstance(weights, torch.Tensor):
        return bool((weights != 1.0).any())
    return any(w != 1.0 for w in weights)


def apply_weights(states: torch.Tensor, empty: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Move each token's states away from the empty prompt's by its weight.

    states [batch, tokens, width]; empty [1, tokens, width], the empty prompt encoded at the
    same length; weights [batch, tokens] (float64 on the CPU, so that a huge weight is shown
    as written). Positions of weight 1 are returned unchanged (as float32)."""
    # in float32 at least, as ComfyUI: fp16 states times a weight of 100 would overflow
    states, empty = states.float(), empty.float()
    w = weights.to(states.dtype).to(states.device)[..., None]  # (MPS has no float64)
    moved = torch.where(w != 1.0, (states - empty) * w + empty, states)
    if bool((torch.isfinite(states) & ~torch.isfinite(moved)).any()):
        largest = float(weights.abs().max())
        raise ValueError(f"a prompt weight of {largest:g} is too large: the encoding overflows")
    return moved
