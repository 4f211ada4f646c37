"""Flux dev and schnell as the family seam sees them (`families.base.Family`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from nodes.ops.families.base import Family, LatentFormat, SamplingDefaults
from nodes.ops.families.flux.call import FluxCall
from nodes.ops.families.flux.lora import transformer_lora
from nodes.ops.sampling.denoiser import ModelCall
from nodes.ops.sampling.samplers.steps import FLOW
from nodes.ops.sampling.schedules import Schedule

# The published linear map of the Flux AE's 16 latent channels (model space) to RGB.
FLUX_RGB = (
    (-0.0346, 0.0244, 0.0681),
    (0.0034, 0.0210, 0.0687),
    (0.0275, -0.0668, -0.0433),
    (-0.0174, 0.0160, 0.0617),
    (0.0859, 0.0721, 0.0329),
    (0.0004, 0.0383, 0.0115),
    (0.0405, 0.0861, 0.0915),
    (-0.0236, -0.0185, -0.0259),
    (-0.0245, 0.0250, 0.1180),
    (0.1008, 0.0755, -0.0421),
    (-0.0515, 0.0201, 0.0011),
    (0.0428, -0.0012, -0.0036),
    (0.0817, 0.0765, 0.0749),
    (-0.1264, -0.0522, -0.1103),
    (-0.0280, -0.0881, -0.0499),
    (-0.1262, -0.0982, -0.0778),
)
FLUX_LATENT = LatentFormat(
    16, 0.3611, 0.1159, rgb_factors=FLUX_RGB, rgb_bias=(-0.0329, -0.0718, -0.0851)
)
# Sigma schedules (see sampling/schedules.FlowSchedule): dev is shifted toward noise with
# mu = 1.15 until ModelSamplingFlux sets mu from the image size; schnell is not shifted.
DEV_SCHEDULE = {"kind": "flow", "shift": 1.15, "shift_kind": "exponential"}
SCHNELL_SCHEDULE = {"kind": "flow", "shift": 1.0, "shift_kind": "linear"}


def flux_call(
    transformer: Any,
    config: Mapping[str, Any],
    schedule: Schedule,
    source: torch.Tensor,
    mask: torch.Tensor | None,
) -> ModelCall:
    return FluxCall(transformer)


def model_config(guidance: bool) -> dict[str, Any]:
    """A Flux Model port's config: dev when the transformer embeds guidance, else schnell."""
    return {
        "family": "flux_dev" if guidance else "flux_schnell",
        "prediction_type": "flow",
        "latent_scale": FLUX_LATENT.scale,
        "latent_shift": FLUX_LATENT.shift,
        "schedule": dict(DEV_SCHEDULE if guidance else SCHNELL_SCHEDULE),
        "patches": (),
    }


def t5_width(transformer: Any) -> int:
    return int(transformer.config.joint_attention_dim)


FLUX_FAMILIES = (
    Family(
        "flux_dev",
        "Flux.1 dev",
        FLUX_LATENT,
        FLOW,
        flux_call,
        t5_width,
        transformer_lora,
        SamplingDefaults(sampler="euler", scheduler="simple", steps=20, cfg=1.0),
        accelerator_dtype="bfloat16",  # its activations overflow float16
    ),
    Family(
        "flux_schnell",
        "Flux.1 schnell",
        FLUX_LATENT,
        FLOW,
        flux_call,
        t5_width,
        transformer_lora,
        SamplingDefaults(sampler="euler", scheduler="simple", steps=4, cfg=1.0),
        accelerator_dtype="bfloat16",
    ),
)
