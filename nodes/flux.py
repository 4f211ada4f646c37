"""Flux nodes: its prompt encoder with a text per encoder, the guidance scale dev was
distilled with, and its resolution-dependent sigma shift (ComfyUI's names and inputs)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from engine.context import NodeContext
from engine.node import Widget, node
from engine.types import Clip, Conditioning, Model
from nodes.footprints import costs
from nodes.footprints.formulas import hook
from nodes.sd_conditioning import Prompt, encode, with_extras

GuidanceScale = Annotated[float, Widget(step=0.1)]
Shift = Annotated[float, Widget(step=0.01)]
Size = Annotated[int, Widget(step=8)]
MAX_SIZE = 16384
# ModelSamplingFlux's line through (256 tokens, base_shift) and (4096 tokens, max_shift).
BASE_TOKENS, MAX_TOKENS = 256, 4096


def flux_shift(width: int, height: int, base_shift: float, max_shift: float) -> float:
    """mu for an image of width x height pixels: a token is a 2x2 patch of 8x8 latent cells,
    and mu grows linearly with the token count."""
    tokens = width * height / (8 * 8 * 2 * 2)
    slope = (max_shift - base_shift) / (MAX_TOKENS - BASE_TOKENS)
    return base_shift + slope * (tokens - BASE_TOKENS)


@node(
    "flux.guidance",
    title="Flux Guidance",
    category="advanced/conditioning/flux",
    comfy="FluxGuidance",
)
class FluxGuidance:
    """The guidance scale Flux dev takes as an input (it was distilled from CFG runs);
    sample with CFG 1. Schnell ignores it."""

    class Inputs(BaseModel):
        conditioning: Conditioning
        guidance: GuidanceScale = Field(3.5, ge=0.0, le=100.0)

    class Outputs(BaseModel):
        conditioning: Conditioning

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(conditioning=with_extras(inputs.conditioning, guidance=inputs.guidance))


@node(
    "flux.encode_prompt",
    title="Encode Prompt (Flux)",
    category="advanced/conditioning/flux",
    comfy="CLIPTextEncodeFlux",
)
class EncodePromptFlux:
    """A text for each of Flux's encoders (CLIP-L reads at most 77 tokens, T5 any length)
    and the guidance scale."""

    class Inputs(BaseModel):
        clip: Clip
        clip_l: Prompt = ""
        t5xxl: Prompt = ""
        guidance: GuidanceScale = Field(3.5, ge=0.0, le=100.0)

    class Outputs(BaseModel):
        conditioning: Conditioning

    cost = hook(costs.prompt("clip_l", "t5xxl"))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        i = inputs
        texts = {"clip_l": i.clip_l, "t5xxl": i.t5xxl}
        conditioning = encode(ctx, i.clip, texts, {"guidance": i.guidance}, "t5xxl")
        return self.Outputs(conditioning=conditioning)


@node(
    "flux.model_sampling",
    title="Model Sampling (Flux)",
    category="advanced/model",
    comfy="ModelSamplingFlux",
)
class ModelSamplingFlux:
    """Shift Flux's sigmas toward noise by the image size: mu = base_shift at 256 tokens
    (a 256x256 image) rising linearly to max_shift at 4096 (1024x1024), and on."""

    class Inputs(BaseModel):
        model: Model
        max_shift: Shift = Field(1.15, ge=0.0, le=100.0)
        base_shift: Shift = Field(0.5, ge=0.0, le=100.0)
        width: Size = Field(1024, ge=16, le=MAX_SIZE)
        height: Size = Field(1024, ge=16, le=MAX_SIZE)

    class Outputs(BaseModel):
        model: Model

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        i = inputs
        mu = flux_shift(i.width, i.height, i.base_shift, i.max_shift)
        schedule = {"kind": "flow", "shift": mu, "shift_kind": "exponential"}
        return self.Outputs(model=Model(i.model.handle, {**i.model.config, "schedule": schedule}))
