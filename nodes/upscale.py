"""Upscale models: super-resolution networks (ESRGAN, Real-ESRGAN, SwinIR) from
models/upscale_models/, run over an image in tiles."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from engine.context import NodeContext, NodeInputError
from engine.model_paths import choices_for
from engine.node import Widget, node
from engine.types import Image, UpscaleModel
from nodes.footprints import upscale as costs
from nodes.footprints.formulas import hook
from nodes.sd_loaders import fingerprint_of, model_file, reported_as


@node(
    "upscale.load_model",
    title="Load Upscale Model",
    category="loaders",
    comfy="UpscaleModelLoader",
)
class LoadUpscaleModel:
    """A super-resolution network, its architecture and scale read from its weights:
    ESRGAN/Real-ESRGAN (RRDB, x1/x2/x4), Real-ESRGAN Compact, SwinIR."""

    class Inputs(BaseModel):
        model_name: Annotated[str, Widget(choices=choices_for("upscale_models"))]

    class Outputs(BaseModel):
        upscale_model: UpscaleModel

    fingerprint = fingerprint_of("upscale_models", "model_name")

    cost = hook(costs.load_upscale_model)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.upscale.loading import load_upscale_model

        with reported_as("model_name", inputs.model_name):
            path = model_file(ctx.settings, "upscale_models", inputs.model_name)
            model = load_upscale_model(path, ctx.models, ctx.devices)
        return self.Outputs(upscale_model=model)


@node(
    "upscale.image_with_model",
    title="Upscale Image (using Model)",
    category="image/upscaling",
    comfy="ImageUpscaleWithModel",
)
class UpscaleImageWithModel:
    """Each image enlarged by the model's scale, in 512-pixel tiles that overlap by 32
    (smaller where one would take over half the memory budget, or when the device runs
    out of memory); progress is reported per tile."""

    class Inputs(BaseModel):
        upscale_model: UpscaleModel
        image: Image

    class Outputs(BaseModel):
        image: Image

    cost = hook(costs.upscale_image)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.upscale.tiling import UpscaleOutOfMemory, upscale

        config = inputs.upscale_model.config
        if config.get("channels", 3) != 3:
            raise NodeInputError(
                "upscale_model",
                f"{config.get('file')} reads {config['channels']}-channel images; "
                "this node gives it RGB images (3 channels)",
            )
        network = inputs.upscale_model.handle.get()
        parameter = next(network.parameters())
        params = sum(p.numel() for p in network.parameters())
        on_cpu = parameter.device.type == "cpu"
        budget = ctx.settings.ram_budget if on_cpu else ctx.settings.vram_budget
        try:
            pixels = upscale(
                network,
                inputs.image.pixels,
                int(inputs.upscale_model.config["scale"]),
                tile=costs.tile_side(params, parameter.element_size(), budget),
                on_tile=ctx.progress,
                align=int(config.get("align", 1)),
                device=parameter.device,
                dtype=parameter.dtype,
            )
        except UpscaleOutOfMemory as error:
            raise NodeInputError("image", str(error)) from None
        return self.Outputs(image=Image(pixels))
