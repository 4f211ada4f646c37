"""Pixels <-> latents through the VAE, in the VAE's own precision, tiled when large.

Latents between nodes are the VAE's raw latents; the model they are sampled with scales
them into its own space (its `latent_scale`), so any VAE can pair with any model of the
same latent shape.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from engine.context import check_interrupt
from nodes.ops.weights.precision import input_placement

TILE_ABOVE = 1024 * 1024  # pixels per image above which the VAE works in tiles
CHUNK = 4  # images per VAE pass: bounds peak memory for large batches


def _tiled(vae: Any, pixels: int) -> bool:
    if pixels > TILE_ABOVE and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
        return True
    if hasattr(vae, "disable_tiling"):
        vae.disable_tiling()
    return False


def scale_factor(vae: Any) -> int:
    """Pixels per latent cell (8 for every SD family)."""
    return int(2 ** (len(vae.config.block_out_channels) - 1))


def latent_mismatch(vae: Any, latents: torch.Tensor) -> str | None:
    """Why `vae` cannot decode `latents` (another family's latent channels), or None."""
    have, want = int(latents.shape[1]), int(vae.config.latent_channels)
    if have == want:
        return None
    return (
        f"this VAE decodes {want}-channel latents ({_KIND.get(want, 'another family')}), "
        f"but the latent has {have} channels ({_KIND.get(have, 'another family')}): use the "
        "VAE that belongs to the model that made it"
    )


_KIND = {4: "SD 1.x, 2.x, XL", 16: "Flux, SD3"}


@torch.inference_mode()
def decode(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    """Latents [B, C, h, w] -> pixels [B, 8h, 8w, 3] in [0, 1]."""
    device, dtype = input_placement(vae)
    factor = scale_factor(vae)
    _tiled(vae, latents.shape[-1] * latents.shape[-2] * factor * factor)
    images = []
    for chunk in latents.split(CHUNK):
        check_interrupt()  # the network checks at each block too (weights.interruptible)
        z = chunk.to(device, dtype)
        images.append(vae.decode(z, return_dict=False)[0].to("cpu", torch.float32))
    pixels = torch.cat(images)
    return ((pixels + 1.0) / 2.0).clamp(0.0, 1.0).movedim(1, -1)


@torch.inference_mode()
def encode(vae: Any, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels [B, H, W, 3] in [0, 1] -> raw latents (the distribution's mean: deterministic).
    Sizes not divisible by the VAE's factor are cropped to it, as the model needs."""
    factor = scale_factor(vae)
    h, w = pixels.shape[1] // factor * factor, pixels.shape[2] // factor * factor
    if h == 0 or w == 0:
        raise ValueError(f"the image is smaller than {factor}x{factor} pixels")
    pixels = pixels[:, :h, :w, :3]
    device, dtype = input_placement(vae)
    _tiled(vae, h * w)
    latents = []
    for chunk in pixels.split(CHUNK):
        check_interrupt()
        x = (chunk.movedim(-1, 1) * 2.0 - 1.0).to(device, dtype)
        dist = vae.encode(x, return_dict=False)[0]
        latents.append(dist.mean.to("cpu", torch.float32))
    return torch.cat(latents)


def grow_mask(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """Dilate a [B, H, W] mask by `pixels` in every direction."""
    if pixels <= 0:
        return mask
    size = 2 * pixels + 1
    return F.max_pool2d(mask[:, None], size, stride=1, padding=pixels)[:, 0]


def prepare_inpaint(
    pixels: torch.Tensor, mask: torch.Tensor, factor: int, grow: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey out the masked pixels (the model must not see what it repaints) and return
    (pixels, mask) cropped to a multiple of the VAE factor."""
    h, w = pixels.shape[1] // factor * factor, pixels.shape[2] // factor * factor
    mask = mask.to(torch.float32)
    if mask.dim() == 2:
        mask = mask[None]
    if tuple(mask.shape[-2:]) != tuple(pixels.shape[1:3]):
        mask = F.interpolate(mask[:, None], size=pixels.shape[1:3], mode="bilinear")[:, 0]
    mask = grow_mask(mask, grow)[:, :h, :w].clamp(0.0, 1.0)
    pixels = pixels[:, :h, :w, :3].clone()
    keep = (mask.round() == 0).to(pixels.dtype)[..., None]
    pixels = (pixels - 0.5) * keep + 0.5
    return pixels, mask
