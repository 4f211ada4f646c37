"""Image batch and transform nodes (ComfyUI's names, inputs and outputs): repeat a batch,
pick images from it, flip, rotate, and read an image's size."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from engine.context import NodeContext, NodeInputError
from engine.node import Widget, node
from engine.types import Image
from nodes.footprints import edits
from nodes.footprints.formulas import hook
from nodes.image import MAX_SIDE


@node("image.repeat_batch", title="Repeat Image Batch", category="image", comfy="RepeatImageBatch")
class RepeatImageBatch:
    """The batch repeated `amount` times."""

    class Inputs(BaseModel):
        image: Image
        amount: int = Field(1, ge=1, le=4096)

    class Outputs(BaseModel):
        image: Image

    cost = hook(edits.repeat_images)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        return self.Outputs(image=Image(inputs.image.pixels.repeat(inputs.amount, 1, 1, 1)))


@node("image.from_batch", title="Get Image from Batch", category="image", comfy="ImageFromBatch")
class ImageFromBatch:
    """`length` images from `batch_index` on (negative counts from the end); both are
    clamped to the batch."""

    class Inputs(BaseModel):
        image: Image
        batch_index: int = Field(0, ge=-MAX_SIDE, le=MAX_SIDE)
        length: int = Field(1, ge=1, le=4096)

    class Outputs(BaseModel):
        image: Image

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import edit

        i = inputs
        return self.Outputs(image=Image(edit.pick(i.image.pixels, i.batch_index, i.length)))


@node("image.flip", title="Flip Image", category="image", comfy="ImageFlip")
class ImageFlip:
    """Upside down (x-axis) or mirrored left to right (y-axis)."""

    class Inputs(BaseModel):
        image: Image
        flip_method: Literal["x-axis: vertically", "y-axis: horizontally"] = "x-axis: vertically"

    class Outputs(BaseModel):
        image: Image

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import edit

        return self.Outputs(image=Image(edit.flip(inputs.image.pixels, inputs.flip_method)))


@node("image.rotate", title="Rotate Image", category="image", comfy="ImageRotate")
class ImageRotate:
    """Turned clockwise by a quarter, a half or three quarters."""

    class Inputs(BaseModel):
        image: Image
        rotation: Literal["none", "90 degrees", "180 degrees", "270 degrees"] = "none"

    class Outputs(BaseModel):
        image: Image

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import edit

        return self.Outputs(image=Image(edit.rotate(inputs.image.pixels, inputs.rotation)))


@node("image.size", title="Get Image Size", category="image", comfy="GetImageSize")
class GetImageSize:
    """The images' width, height and how many there are."""

    class Inputs(BaseModel):
        image: Image

    class Outputs(BaseModel):
        width: int
        height: int
        batch_size: int

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        batch, height, width = inputs.image.pixels.shape[:3]
        return self.Outputs(width=width, height=height, batch_size=batch)


@node("image.stitch", title="Image Stitch", category="image", comfy="ImageStitch")
class ImageStitch:
    """`image2` placed right of, below, left of or above `image1`, scaled to match its
    height or width (or centred on a padding), with an optional band between them; no
    `image2` gives `image1` unchanged."""

    class Inputs(BaseModel):
        image1: Image
        direction: Literal["right", "down", "left", "up"] = "right"
        match_image_size: bool = True
        spacing_width: Annotated[int, Widget(step=2)] = Field(0, ge=0, le=1024)
        spacing_color: Literal["white", "black", "red", "green", "blue"] = "white"
        image2: Image | None = None

    class Outputs(BaseModel):
        image: Image

    cost = hook(edits.stitch)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import edit

        i = inputs
        if i.image2 is None:
            return self.Outputs(image=i.image1)
        pixels = edit.stitch(
            i.image1.pixels,
            i.image2.pixels,
            i.direction,
            i.match_image_size,
            i.spacing_width,
            i.spacing_color,
        )
        if max(pixels.shape[1:3]) > MAX_SIDE:
            raise NodeInputError("image2", f"the stitched image would be over {MAX_SIDE} a side")
        return self.Outputs(image=Image(pixels))


@node(
    "image.resize_and_pad",
    title="Resize and Pad Image",
    category="image",
    comfy="ResizeAndPadImage",
)
class ResizeAndPadImage:
    """Scaled to fit inside target_width x target_height and centred on white or black."""

    class Inputs(BaseModel):
        image: Image
        target_width: int = Field(512, ge=1, le=MAX_SIDE)
        target_height: int = Field(512, ge=1, le=MAX_SIDE)
        padding_color: Literal["white", "black"] = "white"
        interpolation: Literal["area", "bicubic", "nearest-exact", "bilinear", "lanczos"] = "area"

    class Outputs(BaseModel):
        image: Image

    cost = hook(edits.resize_and_pad)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import edit

        i = inputs
        pixels = edit.resize_and_pad(
            i.image.pixels, i.target_width, i.target_height, i.padding_color, i.interpolation
        )
        return self.Outputs(image=Image(pixels))
