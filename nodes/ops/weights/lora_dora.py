"""DoRA (Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation"): the adapted
weight is a learned magnitude times a unit direction, W' = m * (W + dW) / ||W + dW||.

The magnitude vector says which norm: one per output row (PEFT's `lora_magnitude_vector`,
shape (out,); LyCORIS' `dora_scale` with `wd_on_out`, (out, 1[, 1, 1])) or one per input
column (LyCORIS' and kohya's default `dora_scale`, (1, in[, 1, 1])). The norm is of the
combined weight W + dW in both cases, as the paper and PEFT define it. (ComfyUI normalises
the per-row case by ||W|| instead; a per-column file, the usual kind, gives the same.)
A strength s blends: W + s * (W' - W), so 0 leaves the weight and 1 is DoRA's W'."""

from __future__ import annotations

import torch

EPS = torch.finfo(torch.float32).eps  # keeps an all-zero row or column finite


def per_output_row(magnitude: torch.Tensor, weight_shape: torch.Size) -> bool:
    """Whether the magnitude holds one value per output row (else per input column)."""
    rows = weight_shape[0]
    return magnitude.shape[0] == rows and (magnitude.dim() == 1 or magnitude[0].numel() == 1)


def magnitude_fits(magnitude: torch.Tensor, weight_shape: torch.Size) -> bool:
    if per_output_row(magnitude, weight_shape):
        return magnitude.numel() == weight_shape[0]
    return magnitude.numel() == weight_shape[1]


def dora_update(
    weight: torch.Tensor, diff: torch.Tensor, magnitude: torch.Tensor, strength: float
) -> torch.Tensor:
    """The update that makes `weight` its DoRA form at `strength` (float32, weight's shape)."""
    base = weight.float()  # the weight may be on an accelerator, the file's tensors not
    merged = base + diff.reshape(weight.shape).to(base.device)
    if per_output_row(magnitude, weight.shape):
        norm = merged.flatten(1).norm(dim=1)
        shape = (weight.shape[0],) + (1,) * (weight.dim() - 1)
    else:
        norm = merged.transpose(0, 1).flatten(1).norm(dim=1)
        shape = (1, weight.shape[1]) + (1,) * (weight.dim() - 2)
    scale = magnitude.to(base.device, torch.float32).reshape(shape) / (norm.reshape(shape) + EPS)
    return (merged * scale - base) * strength
