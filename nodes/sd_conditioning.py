"""Conditioning nodes: prompts into embeddings, and what modifies them (areas, ControlNet)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from pydantic import BaseModel, Field

from engine.context import NodeContext, NodeInputError
from engine.model_paths import ModelPaths
from engine.node import Widget, node
from engine.paths import UnsafePath
from engine.types import Clip, Conditioning, ConditioningPart, ControlNet, Image
from nodes.footprints import costs
from nodes.footprints.formulas import hook

Prompt = Annotated[str, Widget(multiline=True)]
Size = Annotated[int, Widget(step=8)]
MAX_SIZE = 16384


def encode(
    ctx: NodeContext, clip: Clip, texts: Any, extras: dict[str, Any], input_name: str = "text"
) -> Conditioning:
    from nodes.ops.families.patches import clip_in_use
    from nodes.ops.text.embeddings import read_embedding
    from nodes.ops.text.encoding import encode as encode_text

    def lookup(name: str) -> Any:
        paths = ModelPaths.from_settings(ctx.settings)
        for suffix in ("", ".safetensors", ".pt", ".bin"):
            try:
                return read_embedding(paths.resolve("embeddings", name + suffix))
            except FileNotFoundError:
                continue
        raise FileNotFoundError(f"no embedding {name!r} in {paths.folders('embeddings')}")

    try:
        with clip_in_use(clip, ctx.models) as encoders:
            if encoders.family == "flux":  # T5's tokens and CLIP-L's pooled vector
                from nodes.ops.text.flux_encoding import encode_flux

                part = encode_flux(encoders, texts, extras, max_tokens=costs.MAX_PROMPT_TOKENS)
            else:
                part = encode_text(
                    encoders,
                    texts,
                    layer=clip.config.get("layer"),
                    extras=extras,
                    embeddings=lookup,
                    max_tokens=costs.MAX_PROMPT_TOKENS,
                )
    except (FileNotFoundError, UnsafePath, ValueError) as exc:
        raise NodeInputError(input_name, str(exc)) from None
    return Conditioning((part,))


def with_extras(conditioning: Conditioning, **extras: Any) -> Conditioning:
    return Conditioning(
        tuple(replace(p, extras={**p.extras, **extras}) for p in conditioning.parts)
    )


@node(
    "sd.clip_set_last_layer",
    title="CLIP Set Last Layer",
    category="conditioning",
    comfy="CLIPSetLastLayer",
)
class ClipSetLastLayer:
    """Read the prompt from an earlier layer of the text encoder (-2 is "clip skip 2"). A
    layer past the encoder's depth (-24 on a 12-layer CLIP-L) reads the last layer, as in
    ComfyUI."""

    class Inputs(BaseModel):
        clip: Clip
        stop_at_clip_layer: Annotated[int, Widget(step=1)] = Field(-1, ge=-24, le=-1)

    class Outputs(BaseModel):
        clip: Clip

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        config = {**inputs.clip.config, "layer": inputs.stop_at_clip_layer}
        return self.Outputs(clip=Clip(inputs.clip.handle, config))


@node("sd.encode_prompt", title="Encode Prompt", category="conditioning", comfy="CLIPTextEncode")
class EncodePrompt:
    """Text to conditioning. `(word:1.2)` weights a word, `(word)` by 1.1, `\\(` is a literal
    parenthesis; prompts longer than 75 tokens are encoded in chunks."""

    class Inputs(BaseModel):
        text: Prompt = ""
        clip: Clip

    class Outputs(BaseModel):
        conditioning: Conditioning

    cost = hook(costs.prompt("text"))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(conditioning=encode(ctx, inputs.clip, inputs.text, {}))


@node(
    "sd.encode_prompt_sdxl",
    title="Encode Prompt (SDXL)",
    category="conditioning",
    comfy="CLIPTextEncodeSDXL",
)
class EncodePromptSDXL:
    """SDXL's two encoders with their own texts, plus the size and crop the model is told
    the image has (it was trained with them)."""

    class Inputs(BaseModel):
        clip: Clip
        width: Size = Field(1024, ge=0, le=MAX_SIZE)
        height: Size = Field(1024, ge=0, le=MAX_SIZE)
        crop_w: Size = Field(0, ge=0, le=MAX_SIZE)
        crop_h: Size = Field(0, ge=0, le=MAX_SIZE)
        target_width: Size = Field(1024, ge=0, le=MAX_SIZE)
        target_height: Size = Field(1024, ge=0, le=MAX_SIZE)
        text_g: Prompt = ""
        text_l: Prompt = ""

    class Outputs(BaseModel):
        conditioning: Conditioning

    cost = hook(costs.prompt("text_g", "text_l"))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        i = inputs
        extras = {
            "width": i.width,
            "height": i.height,
            "crop_w": i.crop_w,
            "crop_h": i.crop_h,
            "target_width": i.target_width,
            "target_height": i.target_height,
        }
        texts = {"clip_g": i.text_g, "clip_l": i.text_l}
        return self.Outputs(conditioning=encode(ctx, i.clip, texts, extras, "text_g"))


@node(
    "sd.encode_prompt_refiner",
    title="Encode Prompt (SDXL Refiner)",
    category="conditioning",
    comfy="CLIPTextEncodeSDXLRefiner",
)
class EncodePromptRefiner:
    """The SDXL refiner's prompt, with the aesthetic score it was trained with."""

    class Inputs(BaseModel):
        ascore: Annotated[float, Widget(step=0.1)] = Field(6.0, ge=0.0, le=1000.0)
        width: Size = Field(1024, ge=0, le=MAX_SIZE)
        height: Size = Field(1024, ge=0, le=MAX_SIZE)
        text: Prompt = ""
        clip: Clip

    class Outputs(BaseModel):
        conditioning: Conditioning

    cost = hook(costs.prompt("text"))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        extras = {"aesthetic_score": inputs.ascore, "width": inputs.width, "height": inputs.height}
        return self.Outputs(conditioning=encode(ctx, inputs.clip, inputs.text, extras))


@node(
    "sd.conditioning_combine",
    title="Conditioning Combine",
    category="conditioning",
    comfy="ConditioningCombine",
)
class ConditioningCombine:
    """Both conditionings steer the sampler; their predictions are averaged."""

    class Inputs(BaseModel):
        conditioning_1: Conditioning
        conditioning_2: Conditioning

    class Outputs(BaseModel):
        conditioning: Conditioning

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        parts = inputs.conditioning_1.parts + inputs.conditioning_2.parts
        return self.Outputs(conditioning=Conditioning(parts))


@node(
    "sd.conditioning_set_area",
    title="Conditioning Set Area",
    category="conditioning",
    comfy="ConditioningSetArea",
)
class ConditioningSetArea:
    """Limit a conditioning to a rectangle of the image (in pixels), with a strength."""

    class Inputs(BaseModel):
        conditioning: Conditioning
        width: Size = Field(64, ge=64, le=MAX_SIZE, multiple_of=8)
        height: Size = Field(64, ge=64, le=MAX_SIZE, multiple_of=8)
        x: Size = Field(0, ge=0, le=MAX_SIZE, multiple_of=8)
        y: Size = Field(0, ge=0, le=MAX_SIZE, multiple_of=8)
        strength: Annotated[float, Widget(step=0.01)] = Field(1.0, ge=0.0, le=10.0)

    class Outputs(BaseModel):
        conditioning: Conditioning

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        i = inputs
        area = (i.height // 8, i.width // 8, i.y // 8, i.x // 8)  # latent cells
        return self.Outputs(
            conditioning=with_extras(i.conditioning, area=area, strength=i.strength)
        )


@node(
    "sd.conditioning_zero_out",
    title="Conditioning Zero Out",
    category="conditioning",
    comfy="ConditioningZeroOut",
)
class ConditioningZeroOut:
    """All-zero embeddings of the same shape: "no prompt at all" (used by SDXL refiner
    and some negative prompts)."""

    class Inputs(BaseModel):
        conditioning: Conditioning

    class Outputs(BaseModel):
        conditioning: Conditioning

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        parts = tuple(
            ConditioningPart(p.embeds * 0, None if p.pooled is None else p.pooled * 0, p.extras)
            for p in inputs.conditioning.parts
        )
        return self.Outputs(conditioning=Conditioning(parts))


def apply_control(
    ctx: NodeContext,
    cond: Conditioning,
    control: ControlNet,
    image: Image,
    strength: float,
    start: float,
    end: float,
) -> Conditioning:
    from nodes.ops.families.sd.unet_call import ControlSpec

    parts = []
    for part in cond.parts:
        spec = ControlSpec(control, image.pixels, strength, start, end, part.extras.get("control"))
        parts.append(replace(part, extras={**part.extras, "control": spec}))
    return Conditioning(tuple(parts))


@node(
    "sd.apply_controlnet",
    title="Apply ControlNet",
    category="conditioning",
    comfy="ControlNetApply",
)
class ApplyControlNet:
    """Guide the image's layout with a control image (edges, pose, depth ...)."""

    class Inputs(BaseModel):
        conditioning: Conditioning
        control_net: ControlNet
        image: Image
        strength: Annotated[float, Widget(step=0.01)] = Field(1.0, ge=0.0, le=10.0)

    class Outputs(BaseModel):
        conditioning: Conditioning

    cost = hook(costs.control_net)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        i = inputs
        cond = apply_control(ctx, i.conditioning, i.control_net, i.image, i.strength, 0.0, 1.0)
        return self.Outputs(conditioning=cond)


@node(
    "sd.apply_controlnet_advanced",
    title="Apply ControlNet (Advanced)",
    category="conditioning",
    comfy="ControlNetApplyAdvanced",
)
class ApplyControlNetAdvanced:
    """ControlNet on both prompts, active only between two points of the sampling."""

    class Inputs(BaseModel):
        positive: Conditioning
        negative: Conditioning
        control_net: ControlNet
        image: Image
        strength: Annotated[float, Widget(step=0.01)] = Field(1.0, ge=0.0, le=10.0)
        start_percent: Annotated[float, Widget(step=0.001)] = Field(0.0, ge=0.0, le=1.0)
        end_percent: Annotated[float, Widget(step=0.001)] = Field(1.0, ge=0.0, le=1.0)

    class Outputs(BaseModel):
        positive: Conditioning
        negative: Conditioning

    cost = hook(costs.control_net)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        i = inputs
        args = (i.control_net, i.image, i.strength, i.start_percent, i.end_percent)
        return self.Outputs(
            positive=apply_control(ctx, i.positive, *args),
            negative=apply_control(ctx, i.negative, *args),
        )
