"""Image batch and transform nodes (ComfyUI's names, inputs and outputs): repeat a batch,
pick images from it, flip, rotate, and read an image's size."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from engine.context import NodeContext
from engine.node import node
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
