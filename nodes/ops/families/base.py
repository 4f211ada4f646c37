"""What every model family tells the rest of the code: the family seam.

A family (SD 1.x, SDXL, Flux dev, ...) says how its latents look (channels, the scale and
shift between the VAE's latents and the model's, a linear latent-to-RGB map for previews),
how its network mixes noise in and is called by the guided denoiser, what a user would
sample it with by default, and the precision it wants on an accelerator. Its files'
recognition and loading live in the family's own folder (`families/<name>/`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from nodes.ops.sampling.denoiser import ModelCall
from nodes.ops.sampling.samplers.steps import Noising
from nodes.ops.sampling.schedules import Schedule
from nodes.ops.weights.lora import LoraLayer


@dataclass(frozen=True)
class LatentFormat:
    channels: int
    scale: float  # model latent = (VAE latent - shift) * scale
    shift: float = 0.0
    # RGB in [-1, 1] of a model-space latent: rgb = latent . factors + bias (previews).
    rgb_factors: Sequence[Sequence[float]] = ()
    rgb_bias: Sequence[float] = (0.0, 0.0, 0.0)

    def to_model(self, latent: torch.Tensor, scale: float | None = None) -> torch.Tensor:
        return (latent - self.shift) * (self.scale if scale is None else scale)

    def from_model(self, x: torch.Tensor, scale: float | None = None) -> torch.Tensor:
        return x / (self.scale if scale is None else scale) + self.shift


@dataclass(frozen=True)
class SamplingDefaults:
    sampler: str = "euler"
    scheduler: str = "normal"
    steps: int = 20
    cfg: float = 7.0


# (network module, the Model port's config, schedule, model-space source latent, noise mask
# or None) -> the call the guided denoiser makes at every step.
MakeCall = Callable[
    [Any, Mapping[str, Any], Schedule, torch.Tensor, torch.Tensor | None], ModelCall
]


@dataclass(frozen=True)
class Family:
    name: str  # the Model port's config["family"]
    title: str
    latent: LatentFormat
    noising: Noising
    model_call: MakeCall
    # The width of the text embeddings its network reads (checked before sampling starts).
    context_width: Callable[[Any], int]
    # (network, a LoRA's layers) -> (LoRA name -> network parameter, the layers so named).
    lora: Callable[[Any, dict[str, LoraLayer]], tuple[dict[str, str], dict[str, LoraLayer]]]
    defaults: SamplingDefaults = SamplingDefaults()
    accelerator_dtype: str = "float16"  # what its network computes in on a GPU
