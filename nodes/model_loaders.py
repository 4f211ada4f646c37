"""Loaders for models kept as separate files, as ComfyUI's split layout has them: a
denoiser alone (models/diffusion_models/, also models/unet/) and text encoders
(models/text_encoders/, also models/clip/). What a file is, is read from its keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel

from engine.context import NodeContext
from engine.device import DevicePolicy
from engine.model_paths import choices_for
from engine.model_store import file_fingerprint
from engine.node import Widget, node
from engine.settings import Settings
from engine.types import Clip, Model
from nodes.footprints import costs
from nodes.footprints.formulas import hook
from nodes.sd_loaders import model_file, reported_as

WeightDtype = Literal["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]
TextEncoderName = Annotated[str, Widget(choices=choices_for("text_encoders"))]
Device = Literal["default", "cpu"]


def _devices(ctx: NodeContext, device: str) -> DevicePolicy:
    """Text encoders may stay on the CPU (device "cpu"), leaving the GPU to the denoiser."""
    return DevicePolicy("cpu", threads=ctx.settings.threads) if device == "cpu" else ctx.devices


def _fingerprints(*widgets: str) -> Any:
    def fingerprint(cls: type, values: Mapping[str, Any], settings: Settings) -> str:
        paths = [model_file(settings, "text_encoders", values[w]) for w in widgets]
        return ";".join(file_fingerprint(p) for p in paths)

    return classmethod(fingerprint)


@node(
    "loaders.diffusion_model",
    title="Load Diffusion Model",
    category="advanced/loaders",
    comfy="UNETLoader",
)
class LoadDiffusionModel:
    """A denoiser on its own: a Flux transformer (BFL or diffusers layout), or an SD/SDXL
    UNet. fp8 keeps its weights in 8 bits (half of bf16's memory), computing in bf16."""

    class Inputs(BaseModel):
        unet_name: Annotated[str, Widget(choices=choices_for("diffusion_models"))]
        weight_dtype: WeightDtype = "default"

    class Outputs(BaseModel):
        model: Model

    @classmethod
    def fingerprint(cls, values: Mapping[str, Any], settings: Settings) -> str:
        return file_fingerprint(model_file(settings, "diffusion_models", values["unet_name"]))

    cost = hook(costs.loader("diffusion_models", ("unet_name",), {"model": "all"}))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.families import files

        with reported_as("unet_name", inputs.unet_name):
            path = model_file(ctx.settings, "diffusion_models", inputs.unet_name)
            model = files.load_diffusion_model(path, ctx.models, ctx.devices, inputs.weight_dtype)
        return self.Outputs(model=model)


@node("loaders.clip", title="Load CLIP", category="advanced/loaders", comfy="CLIPLoader")
class LoadCLIP:
    """One text encoder file: a CLIP-L, as SD 1.x's text encoder (type stable_diffusion)."""

    class Inputs(BaseModel):
        clip_name: TextEncoderName
        type: Literal["stable_diffusion"] = "stable_diffusion"
        device: Device = "default"

    class Outputs(BaseModel):
        clip: Clip

    fingerprint = _fingerprints("clip_name")

    cost = hook(costs.loader("text_encoders", ("clip_name",), {"clip": "all"}))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.families import files

        with reported_as("clip_name", inputs.clip_name):
            path = model_file(ctx.settings, "text_encoders", inputs.clip_name)
            clip = files.load_text_encoder(
                path, inputs.type, ctx.models, _devices(ctx, inputs.device)
            )
        return self.Outputs(clip=clip)


@node(
    "loaders.dual_clip",
    title="Dual CLIP Loader",
    category="advanced/loaders",
    comfy="DualCLIPLoader",
)
class DualCLIPLoader:
    """Two text encoder files used together: CLIP-L and T5-XXL for Flux (type flux), in
    either order."""

    class Inputs(BaseModel):
        clip_name1: TextEncoderName
        clip_name2: TextEncoderName
        type: Literal["flux"] = "flux"
        device: Device = "default"

    class Outputs(BaseModel):
        clip: Clip

    fingerprint = _fingerprints("clip_name1", "clip_name2")

    cost = hook(costs.loader("text_encoders", ("clip_name1", "clip_name2"), {"clip": "all"}))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.families import files

        i = inputs
        paths = []
        for widget, name in (("clip_name1", i.clip_name1), ("clip_name2", i.clip_name2)):
            with reported_as(widget, name):
                paths.append(model_file(ctx.settings, "text_encoders", name))
        with reported_as("clip_name1", f"{i.clip_name1} + {i.clip_name2}"):
            clip = files.load_text_encoders(
                (paths[0], paths[1]), i.type, ctx.models, _devices(ctx, i.device)
            )
        return self.Outputs(clip=clip)
