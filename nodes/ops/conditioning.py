"""Conditioning maths for the conditioning nodes: averaging and concatenating prompts, and
the inputs an inpainting model is conditioned on (ComfyUI's semantics; `nodes/conditioning.py`).

A conditioning is a list of parts (`ConditioningPart`); the nodes that take a second
conditioning ("from") use its first part only, as ComfyUI does.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from engine.types import Conditioning, ConditioningPart


def _first(source: Conditioning, width: int) -> ConditioningPart:
    if not source.parts:
        raise ValueError("the conditioning is empty")
    part = source.parts[0]
    if part.embeds.shape[-1] != width:
        raise ValueError(
            f"its embeddings are {part.embeds.shape[-1]} wide, the other conditioning's "
            f"{width}: they come from different text encoders"
        )
    return part


def _to_length(embeds: torch.Tensor, tokens: int) -> torch.Tensor:
    """Cut or zero-pad [batch, n, width] embeddings to `tokens` tokens."""
    if embeds.shape[1] >= tokens:
        return embeds[:, :tokens]
    pad = embeds.new_zeros(embeds.shape[0], tokens - embeds.shape[1], embeds.shape[2])
    return torch.cat([embeds, pad], dim=1)


def _same_batch(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two embeddings with one batch (a single prompt is repeated to the other's)."""
    if a.shape[0] == b.shape[0]:
        return a, b
    if b.shape[0] == 1:
        return a, b.expand(a.shape[0], *b.shape[1:])
    if a.shape[0] == 1:
        return a.expand(b.shape[0], *a.shape[1:]), b
    raise ValueError(f"batches of {a.shape[0]} and {b.shape[0]} prompts cannot be paired")


def average(to: Conditioning, source: Conditioning, to_strength: float) -> Conditioning:
    """Each part of `to` blended with the first part of `source`:
    to x to_strength + source x (1 - to_strength). The source's tokens are cut or
    zero-padded to each part's length; pooled vectors are blended too (or the source's
    taken when only it has one). Each part keeps its own extras."""
    parts = []
    for part in to.parts:
        other = _first(source, part.embeds.shape[-1])
        mine, theirs = _same_batch(part.embeds, _to_length(other.embeds, part.embeds.shape[1]))
        embeds = mine * to_strength + theirs.to(mine.dtype) * (1.0 - to_strength)
        pooled = other.pooled
        if part.pooled is not None and other.pooled is not None:
            mine_p, theirs_p = _same_batch(part.pooled, other.pooled)
            pooled = mine_p * to_strength + theirs_p.to(mine_p.dtype) * (1.0 - to_strength)
        parts.append(replace(part, embeds=embeds, pooled=pooled))
    return Conditioning(tuple(parts))


def concat(to: Conditioning, source: Conditioning) -> Conditioning:
    """Each part of `to` with the first part of `source`'s tokens appended (the model
    attends to both prompts at once); pooled vectors and extras stay `to`'s."""
    parts = []
    for part in to.parts:
        other = _first(source, part.embeds.shape[-1])
        mine, theirs = _same_batch(part.embeds, other.embeds)
        parts.append(replace(part, embeds=torch.cat([mine, theirs.to(mine.dtype)], dim=1)))
    return Conditioning(tuple(parts))


def pixel_mask(mask: torch.Tensor) -> torch.Tensor:
    """A Mask's values as [batch, H, W] float32 (a single [H, W] mask gets a batch of 1)."""
    values = mask.to(torch.float32)
    return values.reshape(-1, values.shape[-2], values.shape[-1])
