"""Bislerp: bilinear resizing whose blends are spherical (slerp) between neighbouring
vectors, as ComfyUI's "bislerp" upscale method.

A latent cell is a vector across the channels. Blending two cells linearly shortens the
result when they point different ways (a bilinear upscale of a noisy latent comes out
with a smaller norm, and samples from it look washed out). Slerp instead turns from one
direction to the other at constant speed and blends the two lengths linearly, so norms
survive resizing. Like bilinear, it is done one axis at a time (width, then height), with
half-pixel centres; an axis of unchanged size is left exactly as it is.
"""

from __future__ import annotations

import torch

PARALLEL = 1e-4  # below this angle (radians) slerp and lerp agree: lerp avoids 0 / 0


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of vectors along dim 1 ([B, C, ...]) by t (broadcast), with
    the length interpolated linearly."""
    norm_a = a.norm(dim=1, keepdim=True)
    norm_b = b.norm(dim=1, keepdim=True)
    unit_a = a / norm_a.clamp_min(1e-12)
    unit_b = b / norm_b.clamp_min(1e-12)
    cos = (unit_a * unit_b).sum(dim=1, keepdim=True).clamp(-1.0, 1.0)
    angle = torch.acos(cos)
    sin = torch.sin(angle)
    turning = angle > PARALLEL
    safe_sin = torch.where(turning, sin, torch.ones_like(sin))
    weight_a = torch.where(turning, torch.sin((1.0 - t) * angle) / safe_sin, 1.0 - t)
    weight_b = torch.where(turning, torch.sin(t * angle) / safe_sin, t)
    direction = weight_a * unit_a + weight_b * unit_b
    length = (1.0 - t) * norm_a + t * norm_b
    # Where a length is 0 there is no direction to turn from: blend linearly.
    degenerate = (norm_a < 1e-12) | (norm_b < 1e-12)
    return torch.where(degenerate, (1.0 - t) * a + t * b, direction * length)


def _axis(samples: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Resize one spatial axis (dim 2 or 3 of [B, C, H, W]) to `size` by slerp between
    the two nearest source cells (half-pixel centres, clamped at the edges)."""
    length = samples.shape[dim]
    if length == size:
        return samples
    scale = length / size
    position = ((torch.arange(size, dtype=torch.float64) + 0.5) * scale - 0.5).clamp(
        0.0, length - 1
    )
    low = position.floor().long()
    high = (low + 1).clamp(max=length - 1)
    t = (position - low).to(samples.dtype)
    shape = [1, 1, 1, 1]
    shape[dim] = size
    a = samples.index_select(dim, low.to(samples.device))
    b = samples.index_select(dim, high.to(samples.device))
    return slerp(a, b, t.reshape(shape).to(samples.device))


def bislerp(samples: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[B, C, h, w] resized to (height, width) with slerp between neighbouring vectors."""
    if samples.dim() != 4:
        raise ValueError(f"bislerp resizes [batch, channels, height, width], not {samples.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"bislerp needs a size of at least 1x1, not {height}x{width}")
    out = samples.to(torch.float32)
    return _axis(_axis(out, width, 3), height, 2).to(samples.dtype)
