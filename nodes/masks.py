"""Mask nodes (ComfyUI's names, inputs and outputs): make, convert, invert, grow, feather
and combine masks. A mask is [batch, height, width] with 1 = selected."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from engine.context import NodeContext, NodeInputError
from engine.node import Widget, node
from engine.types import Image, Latent, Mask
from nodes.footprints import edits
from nodes.footprints.formulas import hook
from nodes.image import MAX_SIDE

Operation = Literal["multiply", "add", "subtract", "and", "or", "xor"]


@node("mask.solid", title="Solid Mask", category="mask", comfy="SolidMask")
class SolidMask:
    """One mask of a single value."""

    class Inputs(BaseModel):
        value: Annotated[float, Widget(step=0.01)] = Field(1.0, ge=0.0, le=1.0)
        width: int = Field(512, ge=1, le=MAX_SIDE)
        height: int = Field(512, ge=1, le=MAX_SIDE)

    class Outputs(BaseModel):
        mask: Mask

    cost = hook(edits.solid_mask)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import masks

        return self.Outputs(mask=Mask(masks.solid(inputs.value, inputs.width, inputs.height)))


@node("mask.from_image", title="Convert Image to Mask", category="mask", comfy="ImageToMask")
class ImageToMask:
    """One channel of each image as a mask."""

    class Inputs(BaseModel):
        image: Image
        channel: Literal["red", "green", "blue", "alpha"] = "red"

    class Outputs(BaseModel):
        mask: Mask

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import masks

        if inputs.channel == "alpha":
            raise NodeInputError(
                "channel",
                "images here are RGB and have no alpha channel; a file's transparency is "
                "Load Image's mask output (or Load Image (as Mask) with channel alpha)",
            )
        return self.Outputs(mask=Mask(masks.from_channel(inputs.image.pixels, inputs.channel)))


@node("mask.from_color", title="Image Color to Mask", category="mask", comfy="ImageColorToMask")
class ImageColorToMask:
    """1 where a pixel is exactly `color` (0xRRGGBB, 8 bits a channel), else 0."""

    class Inputs(BaseModel):
        image: Image
        color: int = Field(0, ge=0, le=0xFFFFFF, description="RGB as 0xRRGGBB")

    class Outputs(BaseModel):
        mask: Mask

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import masks

        return self.Outputs(mask=Mask(masks.from_color(inputs.image.pixels, inputs.color)))


@node("mask.to_image", title="Convert Mask to Image", category="mask", comfy="MaskToImage")
class MaskToImage:
    """Each mask as a grey image."""

    class Inputs(BaseModel):
        mask: Mask

    class Outputs(BaseModel):
        image: Image

    cost = hook(edits.mask_to_image)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import masks

        return self.Outputs(image=Image(masks.to_image(inputs.mask.values)))


@node("mask.invert", title="Invert Mask", category="mask", comfy="InvertMask")
class InvertMask:
    """1 - mask: the selection swapped."""

    class Inputs(BaseModel):
        mask: Mask

    class Outputs(BaseModel):
        mask: Mask

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(mask=Mask(1.0 - inputs.mask.values))


@node("mask.grow", title="Grow Mask", category="mask", comfy="GrowMask")
class GrowMask:
    """Grow the mask by `expand` pixels, or shrink it when negative; tapered corners grow
    a diamond (4 neighbours a step) instead of a square (8)."""

    class Inputs(BaseModel):
        mask: Mask
        expand: int = Field(0, ge=-MAX_SIDE, le=MAX_SIDE)
        tapered_corners: bool = True

    class Outputs(BaseModel):
        mask: Mask

    cost = hook(edits.grow_mask)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import masks

        grown = masks.grow(inputs.mask.values, inputs.expand, inputs.tapered_corners)
        return self.Outputs(mask=Mask(grown))


@node("mask.feather", title="Feather Mask", category="mask", comfy="FeatherMask")
class FeatherMask:
    """Fade the mask linearly to its edges over the given number of pixels per side."""

    class Inputs(BaseModel):
        mask: Mask
        left: int = Field(0, ge=0, le=MAX_SIDE)
        top: int = Field(0, ge=0, le=MAX_SIDE)
        right: int = Field(0, ge=0, le=MAX_SIDE)
        bottom: int = Field(0, ge=0, le=MAX_SIDE)

    class Outputs(BaseModel):
        mask: Mask

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import masks

        i = inputs
        return self.Outputs(
            mask=Mask(masks.feather(i.mask.values, i.left, i.top, i.right, i.bottom))
        )


@node("mask.composite", title="Mask Composite", category="mask", comfy="MaskComposite")
class MaskComposite:
    """Combine `source`, placed at (x, y), with `destination` there; the result is
    clamped to [0, 1]. and/or/xor read each value rounded to 0 or 1."""

    class Inputs(BaseModel):
        destination: Mask
        source: Mask
        x: int = Field(0, ge=0, le=MAX_SIDE)
        y: int = Field(0, ge=0, le=MAX_SIDE)
        operation: Operation = "multiply"

    class Outputs(BaseModel):
        mask: Mask

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import masks

        i = inputs
        try:
            out = masks.combine(i.destination.values, i.source.values, i.x, i.y, i.operation)
        except ValueError as exc:
            raise NodeInputError("source", str(exc)) from None
        return self.Outputs(mask=Mask(out))


@node("mask.threshold", title="Threshold Mask", category="mask", comfy="ThresholdMask")
class ThresholdMask:
    """1 where the mask is above `value`, else 0."""

    class Inputs(BaseModel):
        mask: Mask
        value: Annotated[float, Widget(step=0.01)] = Field(0.5, ge=0.0, le=1.0)

    class Outputs(BaseModel):
        mask: Mask

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(mask=Mask((inputs.mask.values > inputs.value).float()))


@node("mask.crop", title="Crop Mask", category="mask", comfy="CropMask")
class CropMask:
    """The width x height window at (x, y), cut at the mask's edge."""

    class Inputs(BaseModel):
        mask: Mask
        x: int = Field(0, ge=0, le=MAX_SIDE)
        y: int = Field(0, ge=0, le=MAX_SIDE)
        width: int = Field(512, ge=1, le=MAX_SIDE)
        height: int = Field(512, ge=1, le=MAX_SIDE)

    class Outputs(BaseModel):
        mask: Mask

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import masks

        i = inputs
        values = masks.batched(i.mask.values)
        height, width = values.shape[-2:]
        if i.x >= width or i.y >= height:
            where = "x" if i.x >= width else "y"
            raise NodeInputError(where, f"({i.x}, {i.y}) is outside the {width}x{height} mask")
        out = values[:, i.y : i.y + i.height, i.x : i.x + i.width]
        return self.Outputs(mask=Mask(out.clone()))


@node("mask.preview", title="Preview Mask", category="mask", output=True, comfy="MaskPreview")
class MaskPreview:
    """Show masks as grey images without keeping them (written to the temp folder)."""

    class Inputs(BaseModel):
        mask: Mask

    class Outputs(BaseModel):
        pass

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import image as ops
        from nodes.ops.pixels import masks

        pixels = masks.to_image(inputs.mask.values)
        saved = ops.save_png(pixels, ctx.settings.temp_dir, "mask_preview", {})
        ctx.show(images=[{"filename": f, "subfolder": s, "type": "temp"} for f, s in saved])
        return self.Outputs()


@node(
    "mask.latent_composite",
    title="Latent Composite Masked",
    category="latent",
    comfy="LatentCompositeMasked",
)
class LatentCompositeMasked:
    """Paste `source` into `destination` at pixel (x, y) (whole latent cells, so multiples
    of 8), through `mask` where given; the destination's noise mask is kept."""

    class Inputs(BaseModel):
        destination: Latent
        source: Latent
        x: Annotated[int, Widget(step=8)] = Field(0, ge=0, le=MAX_SIDE)
        y: Annotated[int, Widget(step=8)] = Field(0, ge=0, le=MAX_SIDE)
        resize_source: bool = False
        mask: Mask | None = None

    class Outputs(BaseModel):
        latent: Latent

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import edit

        i, to = inputs, inputs.destination
        if i.source.samples.shape[1] != to.samples.shape[1]:
            raise NodeInputError("source", "the two latents have different channel counts")
        mask = i.mask.values if i.mask is not None else None
        out = edit.composite_latent(to.samples, i.source.samples, i.x, i.y, mask, i.resize_source)
        return self.Outputs(latent=Latent(out, to.noise_mask, to.batch_index))
