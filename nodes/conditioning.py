"""Conditioning nodes that mix prompts and limit where and when they steer the sampler:
averaging and concatenating, masks, timestep ranges, and an inpainting model's inputs.

ComfyUI's names, inputs, defaults and output order. How a mask and a timestep range act
while sampling is the guided denoiser's (`nodes/ops/sampling/denoiser.py`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from engine.context import NodeContext, NodeInputError
from engine.node import Widget, node
from engine.types import Conditioning, Image, Latent, Mask, Vae
from nodes.footprints import costs
from nodes.footprints.formulas import hook
from nodes.sd_conditioning import with_extras

Fraction = Annotated[float, Widget(step=0.001)]


@node(
    "sd.conditioning_average",
    title="Conditioning Average",
    category="conditioning",
    comfy="ConditioningAverage",
)
class ConditioningAverage:
    """Blend two prompts' embeddings: conditioning_to x conditioning_to_strength +
    conditioning_from x (1 - strength). Only the first prompt of conditioning_from is
    used; its tokens are cut or zero-padded to each prompt's length."""

    class Inputs(BaseModel):
        conditioning_to: Conditioning
        conditioning_from: Conditioning
        conditioning_to_strength: Annotated[float, Widget(step=0.01)] = Field(1.0, ge=0.0, le=1.0)

    class Outputs(BaseModel):
        conditioning: Conditioning

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.conditioning import average

        i = inputs
        try:
            out = average(i.conditioning_to, i.conditioning_from, i.conditioning_to_strength)
        except ValueError as exc:
            raise NodeInputError("conditioning_from", str(exc)) from None
        return self.Outputs(conditioning=out)


@node(
    "sd.conditioning_concat",
    title="Conditioning Concat",
    category="conditioning",
    comfy="ConditioningConcat",
)
class ConditioningConcat:
    """Append the first prompt of conditioning_from to every prompt of conditioning_to:
    one longer prompt the model attends to whole (unlike Combine, which averages two
    predictions)."""

    class Inputs(BaseModel):
        conditioning_to: Conditioning
        conditioning_from: Conditioning

    class Outputs(BaseModel):
        conditioning: Conditioning

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.conditioning import concat

        try:
            out = concat(inputs.conditioning_to, inputs.conditioning_from)
        except ValueError as exc:
            raise NodeInputError("conditioning_from", str(exc)) from None
        return self.Outputs(conditioning=out)


@node(
    "sd.conditioning_set_mask",
    title="Conditioning (Set Mask)",
    category="conditioning",
    comfy="ConditioningSetMask",
)
class ConditioningSetMask:
    """Limit a prompt to a mask (resized to the latent): where the mask is 1 the prompt
    steers fully, where 0 not at all, weighted by strength against the other prompts.
    "mask bounds" also crops what the model sees to the mask's bounding box."""

    class Inputs(BaseModel):
        conditioning: Conditioning
        mask: Mask
        strength: Annotated[float, Widget(step=0.01)] = Field(1.0, ge=0.0, le=10.0)
        set_cond_area: Literal["default", "mask bounds"] = "default"

    class Outputs(BaseModel):
        conditioning: Conditioning

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.conditioning import pixel_mask

        i = inputs
        if i.mask.values.dim() not in (2, 3) or 0 in i.mask.values.shape:
            raise NodeInputError(
                "mask", f"expected [batch, height, width], not {i.mask.values.shape}"
            )
        out = with_extras(
            i.conditioning,
            mask=pixel_mask(i.mask.values),
            set_area_to_bounds=i.set_cond_area == "mask bounds",
            mask_strength=i.strength,
        )
        return self.Outputs(conditioning=out)


@node(
    "sd.conditioning_set_timestep_range",
    title="Conditioning Set Timestep Range",
    category="advanced/conditioning",
    comfy="ConditioningSetTimestepRange",
)
class ConditioningSetTimestepRange:
    """A prompt that steers only between two points of the sampling: start and end as
    fractions of the model's schedule (0 = pure noise, 1 = done)."""

    class Inputs(BaseModel):
        conditioning: Conditioning
        start: Fraction = Field(0.0, ge=0.0, le=1.0)
        end: Fraction = Field(1.0, ge=0.0, le=1.0)

    class Outputs(BaseModel):
        conditioning: Conditioning

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        out = with_extras(inputs.conditioning, start_percent=inputs.start, end_percent=inputs.end)
        return self.Outputs(conditioning=out)


@node(
    "sd.inpaint_model_conditioning",
    title="Inpaint Model Conditioning",
    category="conditioning/inpaint",
    comfy="InpaintModelConditioning",
)
class InpaintModelConditioning:
    """What an inpainting model (9 input channels) sees besides the noisy latent: the
    mask and the image with the masked area greyed out, carried by both prompts. The
    latent is the whole image encoded; with noise_mask, sampling changes only the mask."""

    class Inputs(BaseModel):
        positive: Conditioning
        negative: Conditioning
        vae: Vae
        pixels: Image
        mask: Mask
        noise_mask: bool = True

    class Outputs(BaseModel):
        positive: Conditioning
        negative: Conditioning
        latent: Latent

    cost = hook(costs.vae_encode)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import vae as ops

        i = inputs
        values = i.mask.values
        images, masks = i.pixels.pixels.shape[0], values.shape[0] if values.dim() == 3 else 1
        if masks not in (1, images):
            raise NodeInputError("mask", f"{masks} masks for {images} images (give 1 or {images})")
        vae = i.vae.handle.get()
        greyed, mask = ops.prepare_inpaint(i.pixels.pixels, i.mask.values, ops.scale_factor(vae), 0)
        height, width = greyed.shape[1:3]
        image = ops.encode(vae, i.pixels.pixels[:, :height, :width, :3])
        extras = {"concat_latent_image": ops.encode(vae, greyed), "concat_mask": mask[:, None]}
        return self.Outputs(
            positive=with_extras(i.positive, **extras),
            negative=with_extras(i.negative, **extras),
            latent=Latent(image, mask[:, None] if i.noise_mask else None),
        )
