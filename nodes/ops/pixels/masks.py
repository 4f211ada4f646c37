"""Mask maths with ComfyUI's semantics: solid masks, channels to masks and back, grow and
shrink, feathered edges, and combining two masks. Masks are [B, H, W] floats, 1 = selected."""

from __future__ import annotations

import torch

from nodes.ops.pixels import morphology

CHANNELS = ("red", "green", "blue")


def batched(mask: torch.Tensor) -> torch.Tensor:
    """Any [..., H, W] mask as [B, H, W] float32."""
    return mask.reshape(-1, *mask.shape[-2:]).to(torch.float32)


def solid(value: float, width: int, height: int) -> torch.Tensor:
    return torch.full((1, height, width), float(value))


def from_channel(pixels: torch.Tensor, channel: str) -> torch.Tensor:
    """One colour channel of each image as a mask."""
    return pixels[..., CHANNELS.index(channel)].clone()


def to_image(mask: torch.Tensor) -> torch.Tensor:
    """Each mask as a grey image (the value in all three channels)."""
    return batched(mask)[..., None].expand(-1, -1, -1, 3).contiguous()


def grow(mask: torch.Tensor, expand: int, tapered_corners: bool) -> torch.Tensor:
    """Grow the mask by `expand` pixels (shrink when negative) as ComfyUI's one 3x3 step a
    pixel does: with tapered corners a pixel reaches its 4 neighbours per step (a diamond
    grows), without it all 8 (a square grows). Pixels past the edge take no part."""
    out = batched(mask)
    # Past height + width steps nothing changes any more: stop there however large `expand`.
    steps = min(abs(expand), out.shape[-2] + out.shape[-1])
    sign = 1.0 if expand >= 0 else -1.0  # erosion is dilation of the negated mask
    dilate = morphology.dilate_diamond if tapered_corners else morphology.dilate_square
    return dilate(out * sign, steps) * sign


def feather(mask: torch.Tensor, left: int, top: int, right: int, bottom: int) -> torch.Tensor:
    """Fade the mask towards each edge: the outermost row or column of a side feathered
    over n pixels keeps 1/n of its value, the next 2/n, ..., the n-th all of it."""
    out = batched(mask).clone()
    height, width = out.shape[-2:]
    for size, length, flip, axis in (
        (left, width, False, 2),
        (right, width, True, 2),
        (top, height, False, 1),
        (bottom, height, True, 1),
    ):
        size = min(size, length)
        if size == 0:
            continue
        ramp = torch.ones(length)
        ramp[:size] = torch.arange(1, size + 1, dtype=torch.float32) / size
        if flip:
            ramp = ramp.flip(0)
        out *= ramp[None, None, :] if axis == 2 else ramp[None, :, None]
    return out


def combine(
    destination: torch.Tensor, source: torch.Tensor, x: int, y: int, operation: str
) -> torch.Tensor:
    """`source` laid on `destination` at (x, y) and combined there by `operation`; the
    logical ones read each value rounded to 0 or 1. The result is clamped to [0, 1]."""
    dst, src = batched(destination), batched(source)
    if dst.shape[0] != src.shape[0] and 1 not in (dst.shape[0], src.shape[0]):
        raise ValueError(f"batches of {dst.shape[0]} and {src.shape[0]} masks do not pair up")
    out = dst.expand(max(dst.shape[0], src.shape[0]), -1, -1).clone()
    height, width = out.shape[-2:]
    h, w = min(src.shape[-2], height - y), min(src.shape[-1], width - x)
    if h <= 0 or w <= 0:
        return out.clamp(0.0, 1.0)
    below, above = out[:, y : y + h, x : x + w], src[:, :h, :w]
    out[:, y : y + h, x : x + w] = _operate(below, above, operation)
    return out.clamp(0.0, 1.0)


def _operate(below: torch.Tensor, above: torch.Tensor, operation: str) -> torch.Tensor:
    if operation == "multiply":
        return below * above
    if operation == "add":
        return below + above
    if operation == "subtract":
        return below - above
    a, b = below.round().bool(), above.round().bool()
    logical = {"and": torch.logical_and, "or": torch.logical_or, "xor": torch.logical_xor}
    return logical[operation](a, b).to(below.dtype)


def from_color(pixels: torch.Tensor, color: int) -> torch.Tensor:
    """1 where a pixel is exactly `color` (0xRRGGBB, after rounding to 8 bits), else 0."""
    levels = (pixels.clamp(0.0, 1.0) * 255.0).round().to(torch.int64)
    packed = (levels[..., 0] << 16) + (levels[..., 1] << 8) + levels[..., 2]
    return (packed == color).to(torch.float32)
