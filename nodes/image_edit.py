"""Image edit nodes (ComfyUI's names, inputs and outputs): scale by a factor, crop, pad for
outpainting, batch, composite through a mask, load a mask from a file, and send images to
the client over the WebSocket."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from engine.context import NodeContext, NodeInputError
from engine.model_store import file_fingerprint
from engine.node import Widget, node
from engine.paths import UnsafePath
from engine.settings import Settings
from engine.types import Image, Mask
from nodes.footprints import costs, edits
from nodes.footprints.formulas import hook
from nodes.image import MAX_SIDE, annotated_image, image_file, input_images

ScaleMethod = Literal["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
Side = Annotated[int, Widget(step=8)]


@node("image.scale_by", title="Scale Image By", category="image", comfy="ImageScaleBy")
class ScaleImageBy:
    """Resize by a factor (both sides multiplied and rounded)."""

    class Inputs(BaseModel):
        image: Image
        upscale_method: ScaleMethod = "nearest-exact"
        scale_by: Annotated[float, Widget(step=0.01)] = Field(1.0, ge=0.01, le=8.0)

    class Outputs(BaseModel):
        image: Image

    cost = hook(edits.scale_by)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import edit

        height, width = inputs.image.pixels.shape[1:3]
        if max(height, width) * inputs.scale_by > MAX_SIDE + 0.5:
            raise NodeInputError(
                "scale_by",
                f"a {width}x{height} image scaled by {inputs.scale_by} would be over "
                f"{MAX_SIDE} pixels a side",
            )
        pixels = edit.scale_by(inputs.image.pixels, inputs.scale_by, inputs.upscale_method)
        return self.Outputs(image=Image(pixels))


@node("image.crop", title="Crop Image", category="image", comfy="ImageCrop")
class CropImage:
    """The width x height window at (x, y), cut at the image's edge."""

    class Inputs(BaseModel):
        image: Image
        width: int = Field(512, ge=1, le=MAX_SIDE)
        height: int = Field(512, ge=1, le=MAX_SIDE)
        x: int = Field(0, ge=0, le=MAX_SIDE)
        y: int = Field(0, ge=0, le=MAX_SIDE)

    class Outputs(BaseModel):
        image: Image

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import edit

        i = inputs
        return self.Outputs(image=Image(edit.crop(i.image.pixels, i.width, i.height, i.x, i.y)))


@node(
    "image.pad_for_outpaint",
    title="Pad Image for Outpainting",
    category="image",
    comfy="ImagePadForOutpaint",
)
class PadImageForOutpaint:
    """Add a grey border to paint into, and a mask of it (feathered into the image along
    the padded sides) for VAE Encode (for Inpainting) or Set Latent Noise Mask."""

    class Inputs(BaseModel):
        image: Image
        left: Side = Field(0, ge=0, le=MAX_SIDE)
        top: Side = Field(0, ge=0, le=MAX_SIDE)
        right: Side = Field(0, ge=0, le=MAX_SIDE)
        bottom: Side = Field(0, ge=0, le=MAX_SIDE)
        feathering: int = Field(40, ge=0, le=MAX_SIDE)

    class Outputs(BaseModel):
        image: Image
        mask: Mask

    cost = hook(edits.pad_for_outpaint)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import edit

        i = inputs
        height, width = i.image.pixels.shape[1:3]
        for size, sides in ((height, ("top", "bottom")), (width, ("left", "right"))):
            if size + sum(getattr(i, side) for side in sides) > MAX_SIDE:
                widest = max(sides, key=lambda side: getattr(i, side))
                raise NodeInputError(
                    widest, f"the padded image would be over {MAX_SIDE} pixels a side"
                )
        pixels, mask = edit.pad_for_outpaint(
            i.image.pixels, i.left, i.top, i.right, i.bottom, i.feathering
        )
        return self.Outputs(image=Image(pixels), mask=Mask(mask))


@node("image.batch", title="Batch Images", category="image", comfy="ImageBatch")
class BatchImages:
    """Both batches in one; the second is scaled to the first's size if they differ."""

    class Inputs(BaseModel):
        image1: Image
        image2: Image

    class Outputs(BaseModel):
        image: Image

    cost = hook(edits.batch_images)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import edit

        return self.Outputs(image=Image(edit.batch(inputs.image1.pixels, inputs.image2.pixels)))


@node(
    "image.composite_masked",
    title="Image Composite Masked",
    category="image",
    comfy="ImageCompositeMasked",
)
class ImageCompositeMasked:
    """Paste `source` into `destination` at (x, y), through `mask` where given."""

    class Inputs(BaseModel):
        destination: Image
        source: Image
        x: int = Field(0, ge=0, le=MAX_SIDE)
        y: int = Field(0, ge=0, le=MAX_SIDE)
        resize_source: bool = False
        mask: Mask | None = None

    class Outputs(BaseModel):
        image: Image

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import edit

        i = inputs
        mask = i.mask.values if i.mask is not None else None
        pixels = edit.composite(
            i.destination.pixels, i.source.pixels, i.x, i.y, mask, i.resize_source
        )
        return self.Outputs(image=Image(pixels))


@node("image.load_mask", title="Load Image (as Mask)", category="mask", comfy="LoadImageMask")
class LoadImageMask:
    """One channel of an image in the input folder as a mask. `alpha` gives Load Image's
    mask: 1 where the image is transparent (what to repaint), as in ComfyUI."""

    class Inputs(BaseModel):
        image: Annotated[str, Widget(choices=input_images, accepts=annotated_image)]
        channel: Literal["alpha", "red", "green", "blue"] = "alpha"

    class Outputs(BaseModel):
        mask: Mask

    cost = hook(edits.load_mask)

    @classmethod
    def fingerprint(cls, widgets: Mapping[str, Any], settings: Settings) -> str:
        # A file replaced under the same name must be read again.
        return file_fingerprint(image_file(settings, widgets["image"]))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import image as ops
        from nodes.ops.pixels import masks

        try:
            pixels, alpha_mask = ops.load(image_file(ctx.settings, inputs.image))
        except (UnsafePath, OSError) as exc:
            raise NodeInputError("image", f"cannot read image {inputs.image!r}: {exc}") from None
        if inputs.channel == "alpha":
            return self.Outputs(mask=Mask(alpha_mask))
        return self.Outputs(mask=Mask(masks.from_channel(pixels, inputs.channel)))


@node(
    "image.save_websocket",
    title="Save Image (WebSocket)",
    category="image",
    output=True,
    comfy="SaveImageWebsocket",
)
class SaveImageWebsocket:
    """Send each image as a PNG to the client that queued the job, as a binary WebSocket
    frame (ComfyUI's preview frame, format PNG), at full size; nothing is written to disk
    and the PNGs carry no workflow."""

    class Inputs(BaseModel):
        images: Image

    class Outputs(BaseModel):
        pass

    @classmethod
    def fingerprint(cls, widgets: Mapping[str, Any], settings: Settings) -> str:
        # Never served from the cache: a cached node would send the client nothing.
        return uuid.uuid4().hex

    cost = hook(costs.save_images)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        pixels = inputs.images.pixels
        for index in range(len(pixels)):
            image = Image(pixels[index : index + 1])
            ctx.progress(index + 1, len(pixels), image, preview_format="PNG")
        return self.Outputs()
