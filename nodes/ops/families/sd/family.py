"""The SD families as the family seam sees them (`families.base.Family`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from nodes.ops.families.base import Family, LatentFormat, SamplingDefaults
from nodes.ops.families.sd.layout import unet_module_map
from nodes.ops.families.sd.unet_call import InpaintInputs, UNetCall
from nodes.ops.sampling.denoiser import ModelCall
from nodes.ops.sampling.samplers.steps import VE
from nodes.ops.sampling.schedules import Schedule
from nodes.ops.weights.lora import LoraLayer, targets

# The well-known linear maps of SD's and SDXL's 4 latent channels to RGB.
SD_RGB = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
SDXL_RGB = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.6646),
)
SD_LATENT = LatentFormat(4, 0.18215, rgb_factors=SD_RGB)
SDXL_LATENT = LatentFormat(4, 0.13025, rgb_factors=SDXL_RGB)


def unet_call(
    unet: Any,
    config: Mapping[str, Any],
    schedule: Schedule,
    source: torch.Tensor,
    mask: torch.Tensor | None,
) -> ModelCall:
    inpaint = None
    if unet.config.in_channels == 9:  # an inpainting model sees the mask and masked image
        inpaint = InpaintInputs(torch.ones_like(source[:, :1]) if mask is None else mask, source)
    return UNetCall(unet, schedule, str(config.get("prediction_type", "epsilon")), inpaint)


def cross_attention_width(unet: Any) -> int:
    width = unet.config.cross_attention_dim
    return int(width[0] if isinstance(width, list | tuple) else width)


def unet_lora(
    unet: Any, layers: dict[str, LoraLayer]
) -> tuple[dict[str, str], dict[str, LoraLayer]]:
    """LoRA names of the UNet's layers, by diffusers path and by original (LDM) path."""
    return targets(unet, "lora_unet_", unet_module_map(dict(unet.config))), layers


def _family(name: str, title: str, latent: LatentFormat, cfg: float = 7.0) -> Family:
    defaults = SamplingDefaults(cfg=cfg)
    return Family(name, title, latent, VE, unet_call, cross_attention_width, unet_lora, defaults)


SD_FAMILIES = (
    _family("sd1", "Stable Diffusion 1.x", SD_LATENT),
    _family("sd2", "Stable Diffusion 2.x", SD_LATENT),
    _family("sdxl", "Stable Diffusion XL", SDXL_LATENT),
    _family("sdxl_refiner", "Stable Diffusion XL refiner", SDXL_LATENT),
)
