"""Image filters with ComfyUI's semantics: blend modes, Gaussian blur and sharpen, and
scaling to a number of megapixels. Images are [B, H, W, 3] in [0, 1]."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from nodes.ops.pixels.edit import repeat_to_batch
from nodes.ops.pixels.image import per_item, resize


def _soft_light_curve(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.25, ((16 * x - 12) * x + 4) * x, torch.sqrt(x))


def blend_layer(base: torch.Tensor, layer: torch.Tensor, mode: str) -> torch.Tensor:
    """`layer` over `base` in a blend mode (before mixing by the blend factor)."""
    if mode == "normal":
        return layer
    if mode == "multiply":
        return base * layer
    if mode == "screen":
        return 1 - (1 - base) * (1 - layer)
    if mode == "overlay":
        return torch.where(base <= 0.5, 2 * base * layer, 1 - 2 * (1 - base) * (1 - layer))
    if mode == "soft_light":
        darker = base - (1 - 2 * layer) * base * (1 - base)
        lighter = base + (2 * layer - 1) * (_soft_light_curve(base) - base)
        return torch.where(layer <= 0.5, darker, lighter)
    if mode == "difference":
        return base - layer  # as ComfyUI: signed, then clamped with the rest
    raise ValueError(f"unknown blend mode {mode!r}")


def blend(first: torch.Tensor, second: torch.Tensor, factor: float, mode: str) -> torch.Tensor:
    """`second` blended over `first` by `mode`, mixed in by `factor`; `second` is scaled
    (bicubic, centre crop) to `first`'s size and cycled over its batch."""
    height, width = first.shape[1:3]
    if second.shape[1:3] != first.shape[1:3]:
        second = resize(second, width, height, "bicubic", "center")
    second = repeat_to_batch(second.to(first.dtype), first.shape[0])
    mixed = first * (1 - factor) + blend_layer(first, second, mode) * factor
    return mixed.clamp(0.0, 1.0)


def gaussian_kernel(radius: int, sigma: float) -> torch.Tensor:
    """A (2r+1)-square Gaussian over coordinates spread from -1 to 1 across the kernel (so
    `sigma` is relative to the radius, as ComfyUI's), summing to 1."""
    steps = torch.linspace(-1.0, 1.0, 2 * radius + 1)
    ys, xs = torch.meshgrid(steps, steps, indexing="ij")
    weights = torch.exp(-(ys * ys + xs * xs) / (2.0 * sigma * sigma))
    return weights / weights.sum()


def _convolve(pixels: torch.Tensor, kernel: torch.Tensor, radius: int) -> torch.Tensor:
    """Each channel convolved with `kernel`, the edges mirrored (repeated when the image is
    too small to mirror)."""

    def one(image: torch.Tensor) -> torch.Tensor:
        channels = image.shape[-1]
        planes = image.movedim(-1, 1)
        small = min(planes.shape[-2:]) <= radius
        padded = F.pad(planes, (radius,) * 4, mode="replicate" if small else "reflect")
        weights = kernel.to(planes.dtype).expand(channels, 1, *kernel.shape)
        return F.conv2d(padded, weights, groups=channels).movedim(1, -1)

    return per_item(pixels, one)


def blur(pixels: torch.Tensor, radius: int, sigma: float) -> torch.Tensor:
    return _convolve(pixels, gaussian_kernel(radius, sigma), radius)


def sharpen(pixels: torch.Tensor, radius: int, sigma: float, alpha: float) -> torch.Tensor:
    """Unsharp: the Gaussian subtracted (weighted by 10 x alpha), the centre raised so the
    kernel sums to 1."""
    kernel = gaussian_kernel(radius, sigma) * -(alpha * 10)
    kernel[radius, radius] += 1.0 - kernel.sum()
    return _convolve(pixels, kernel, radius).clamp(0.0, 1.0)


def total_pixels_size(height: int, width: int, megapixels: float, steps: int) -> tuple[int, int]:
    """(height, width) holding about `megapixels` x 1024^2 pixels at the same aspect ratio,
    each side a multiple of `steps`."""
    factor = math.sqrt(megapixels * 1024 * 1024 / (height * width))
    new_w = max(1, round(width * factor / steps)) * steps
    new_h = max(1, round(height * factor / steps)) * steps
    return new_h, new_w


def longest_side_size(height: int, width: int, largest: int) -> tuple[int, int]:
    """(height, width) with the longer side `largest`, the aspect ratio kept."""
    if height > width:
        return largest, max(1, round(width / height * largest))
    if width > height:
        return max(1, round(height / width * largest)), largest
    return largest, largest


def add_noise(pixels: torch.Tensor, seed: int, strength: float) -> torch.Tensor:
    """Gaussian noise times `strength`, drawn on the CPU from `seed` as ComfyUI draws it
    (one generator seeded once, the whole batch's shape at once), clamped to [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(pixels.shape, generator=generator).to(pixels)
    return (pixels + strength * noise).clamp(0.0, 1.0)
