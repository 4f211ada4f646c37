"""A cheap latent -> RGB approximation for previews while sampling: a fixed linear map of
the latent channels (the per-family factors are well known), no VAE pass."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# RGB contribution of each of the 4 latent channels.
SD_FACTORS = [
    [0.3512, 0.2297, 0.3227],
    [0.3250, 0.4974, 0.2350],
    [-0.2829, 0.1762, 0.2721],
    [-0.2120, -0.2616, -0.7177],
]
SDXL_FACTORS = [
    [0.3651, 0.4232, 0.4341],
    [-0.2533, -0.0042, 0.1068],
    [0.1076, 0.1111, -0.0362],
    [-0.3165, -0.2492, -0.6646],
]


def latent_to_rgb(latent: torch.Tensor, family: str, size: int = 256) -> torch.Tensor:
    """The first item of [B, C, h, w] as a [1, H, W, 3] image in [0, 1], at most `size`
    pixels on its long side."""
    x = latent[:1].to("cpu", torch.float32)
    if x.shape[1] == 4:
        factors = torch.tensor(SDXL_FACTORS if family.startswith("sdxl") else SD_FACTORS)
        rgb = torch.einsum("bchw,cr->brhw", x, factors)
        rgb = (rgb + 1.0) / 2.0
    else:  # an unknown latent space: show its mean as grey
        rgb = x.mean(1, keepdim=True).expand(-1, 3, -1, -1)
        rgb = (rgb - rgb.min()) / (rgb.max() - rgb.min() + 1e-6)
    h, w = rgb.shape[-2:]
    scale = min(8.0, size / max(h, w))
    rgb = F.interpolate(
        rgb, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="nearest"
    )
    return rgb.clamp(0.0, 1.0).movedim(1, -1)
