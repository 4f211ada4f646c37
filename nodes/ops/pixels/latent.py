"""Latent tensor operations: resize, composite, pick and repeat batch items."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.types import Latent
from nodes.ops.pixels.bislerp import bislerp


def resize(samples: torch.Tensor, height: int, width: int, method: str, crop: str) -> torch.Tensor:
    """Resize [B, C, h, w] to (height, width) latent cells; `crop="center"` keeps aspect."""
    if crop == "center":
        h, w = samples.shape[-2:]
        if w * height > h * width:
            keep = round(h * width / height)
            samples = samples[..., (w - keep) // 2 : (w - keep) // 2 + keep]
        else:
            keep = round(w * height / width)
            samples = samples[..., (h - keep) // 2 : (h - keep) // 2 + keep, :]
    if method == "bislerp":
        return bislerp(samples, height, width)
    smooth = method in ("bilinear", "bicubic")
    return F.interpolate(samples, size=(height, width), mode=method, antialias=smooth)


def blend(first: torch.Tensor, second: torch.Tensor, factor: float) -> torch.Tensor:
    """first * factor + second * (1 - factor); a second latent of another size is first
    resized to the first's (bicubic, centre crop), as ComfyUI's Latent Blend does. A
    single second latent blends into every item of the first batch."""
    if second.shape[-2:] != first.shape[-2:]:
        second = resize(second, first.shape[-2], first.shape[-1], "bicubic", "center")
    if second.shape[1] != first.shape[1] or second.shape[0] not in (1, first.shape[0]):
        raise ValueError(
            f"cannot blend latents of {tuple(first.shape[:2])} and "
            f"{tuple(second.shape[:2])} (batch, channels)"
        )
    return first * factor + second * (1.0 - factor)


def composite(
    destination: torch.Tensor, source: torch.Tensor, x: int, y: int, feather: int
) -> torch.Tensor:
    """Paste `source` into `destination` at latent cell (x, y), blending `feather` cells
    at the pasted edges that lie inside the destination."""
    out = destination.clone()
    height, width = destination.shape[-2:]
    h, w = min(source.shape[-2], height - y), min(source.shape[-1], width - x)
    if h <= 0 or w <= 0:
        return out
    src = source[..., :h, :w]
    weight = torch.ones((1, 1, h, w), dtype=out.dtype)
    for i in range(min(feather, h // 2, w // 2)):
        fade = (i + 1) / (feather + 1)
        if y > 0:
            weight[..., i, :] = torch.minimum(weight[..., i, :], torch.tensor(fade))
        if y + h < height:
            weight[..., h - 1 - i, :] = torch.minimum(weight[..., h - 1 - i, :], torch.tensor(fade))
        if x > 0:
            weight[..., :, i] = torch.minimum(weight[..., :, i], torch.tensor(fade))
        if x + w < width:
            weight[..., :, w - 1 - i] = torch.minimum(weight[..., :, w - 1 - i], torch.tensor(fade))
    region = out[..., y : y + h, x : x + w]
    out[..., y : y + h, x : x + w] = src * weight + region * (1 - weight)
    return out


def indices(latent: Latent) -> tuple[int, ...]:
    return latent.batch_index or tuple(range(latent.samples.shape[0]))


def pick(latent: Latent, start: int, length: int) -> Latent:
    """Items start..start+length-1 of a batch, keeping their batch positions (seeds)."""
    batch = latent.samples.shape[0]
    start = min(start, batch - 1)
    end = min(batch, start + length)
    mask = latent.noise_mask
    if mask is not None and mask.shape[0] == batch:
        mask = mask[start:end]
    return Latent(latent.samples[start:end].clone(), mask, indices(latent)[start:end])


def repeat(latent: Latent, amount: int) -> Latent:
    """The batch repeated `amount` times; repeats get new positions (so new seeds)."""
    samples = latent.samples.repeat(amount, 1, 1, 1)
    mask = latent.noise_mask
    if mask is not None and mask.shape[0] == latent.samples.shape[0]:
        mask = mask.repeat(amount, *([1] * (mask.dim() - 1)))
    old = indices(latent)
    offset = max(old) + 1
    positions = tuple(i + k * offset for k in range(amount) for i in old)
    return Latent(samples, mask, positions)
