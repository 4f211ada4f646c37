"""A prompt as Flux reads it: T5-XXL's hidden states per token (the transformer attends to
them) and CLIP-L's pooled vector (added to its timestep embedding).

CLIP-L sees the first 77 tokens of its text (start, 75 tokens, end, end-token padding), as
CLIP was trained; T5 sees its whole text, ended by </s> and padded with <pad> to at least
256 tokens (the length Flux was trained with for schnell, and that ComfyUI pads to).
Prompt weighting (`(word:1.2)`, see weighting.py) moves T5's states; CLIP-L's pooled vector
reads the prompt without the syntax and is not weighted (ComfyUI weights hidden states only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from engine.types import ConditioningPart
from nodes.ops.text.encoding import TextEncoder, TextEncoders, check_length, tokenize_chunks
from nodes.ops.text.t5_tokenizer import EOS_ID, PAD_ID, t5_tokenizer
from nodes.ops.text.weighting import any_weighted, apply_weights, parse_weights

T5_MIN_TOKENS = 256


def flux_encoders(clip_l: Any, t5xxl: Any) -> TextEncoders:
    """Flux's two encoders in the order its conditioning reads them."""
    return TextEncoders(
        "flux",
        [
            TextEncoder("clip_l", clip_l, "eos", -1, True, pooled=True),
            TextEncoder("t5xxl", t5xxl, "zero", -1, False),
        ],
    )


@torch.inference_mode()
def clip_pooled(model: Any, text: str) -> torch.Tensor:
    """CLIP-L's pooled output [1, width] for the first 77 tokens of `text`."""
    ids = tokenize_chunks(text, "eos")[:1]
    device = next(model.parameters()).device
    return model(input_ids=ids.to(device)).pooler_output.to("cpu", torch.float32)


def t5_tokens(text: str) -> tuple[list[int], list[float]]:
    """T5's ids of a (possibly weighted) prompt, ended by </s>, and each id's weight. Each
    weighted piece is tokenized on its own, as ComfyUI does."""
    tokenizer = t5_tokenizer()
    ids: list[int] = []
    weights: list[float] = []
    for segment, weight in parse_weights(text):
        piece: list[int] = tokenizer(segment)["input_ids"][:-1]  # without its </s>
        ids += piece
        weights += [weight] * len(piece)
    return [*ids, EOS_ID], [*weights, 1.0]


@torch.inference_mode()
def t5_states(
    model: Any, text: str, min_tokens: int = T5_MIN_TOKENS, max_tokens: int | None = None
) -> torch.Tensor:
    """T5's last hidden states [1, tokens, width], padded to at least `min_tokens`; more
    than `max_tokens` tokens are refused (ValueError). Weighted tokens move relative to the
    empty prompt (</s> then padding) encoded at the same length."""
    ids, weights = t5_tokens(text)
    check_length(len(ids), max_tokens)
    padding = max(0, min_tokens - len(ids))
    ids, weights = ids + [PAD_ID] * padding, weights + [1.0] * padding
    device = next(model.parameters()).device

    def states_of(token_ids: list[int]) -> torch.Tensor:
        return model(input_ids=torch.tensor([token_ids], device=device)).last_hidden_state

    states = states_of(ids)
    if any_weighted(weights):
        empty = states_of([EOS_ID] + [PAD_ID] * (len(ids) - 1))
        states = apply_weights(states, empty, torch.tensor([weights], dtype=torch.float64))
    return states.to("cpu", torch.float32)


def encode_flux(
    encoders: TextEncoders,
    texts: Mapping[str, str] | str,
    extras: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
) -> ConditioningPart:
    """`texts` gives each encoder its own text by name (CLIPTextEncodeFlux's clip_l and
    t5xxl), or one text for both."""
    by_name = {e.name: e for e in encoders.encoders}
    missing = {"clip_l", "t5xxl"} - by_name.keys()
    if missing:
        raise ValueError(f"Flux needs CLIP-L and T5-XXL; this CLIP has no {sorted(missing)}")

    def text(name: str) -> str:
        return texts if isinstance(texts, str) else texts[name]

    pooled = clip_pooled(by_name["clip_l"].model, text("clip_l"))
    states = t5_states(by_name["t5xxl"].model, text("t5xxl"), max_tokens=max_tokens)
    return ConditioningPart(states, pooled, dict(extras or {}))
