"""Image filter nodes (ComfyUI's names, inputs and outputs): blend two images, blur,
sharpen, and scale to a number of megapixels."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from engine.context import NodeContext, NodeInputError
from engine.node import Widget, node
from engine.types import Image
from nodes.footprints import edits
from nodes.footprints.formulas import hook
from nodes.image import MAX_SIDE
from nodes.image_edit import ScaleMethod

BlendMode = Literal["normal", "multiply", "screen", "overlay", "soft_light", "difference"]


@node("image.blend", title="Blend Images", category="image/filters", comfy="ImageBlend")
class BlendImages:
    """`image2` over `image1` in a blend mode, mixed in by `blend_factor`; `image2` is
    scaled to `image1`'s size if they differ."""

    class Inputs(BaseModel):
        image1: Image
        image2: Image
        blend_factor: Annotated[float, Widget(step=0.01)] = Field(0.5, ge=0.0, le=1.0)
        blend_mode: BlendMode = "normal"

    class Outputs(BaseModel):
        image: Image

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import filters

        i = inputs
        pixels = filters.blend(i.image1.pixels, i.image2.pixels, i.blend_factor, i.blend_mode)
        return self.Outputs(image=Image(pixels))


@node("image.blur", title="Blur Image", category="image/filters", comfy="ImageBlur")
class BlurImage:
    """Gaussian blur over a (2 x blur_radius + 1)-square; `sigma` is relative to it."""

    class Inputs(BaseModel):
        image: Image
        blur_radius: int = Field(1, ge=1, le=31)
        sigma: Annotated[float, Widget(step=0.1)] = Field(1.0, ge=0.1, le=10.0)

    class Outputs(BaseModel):
        image: Image

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import filters

        pixels = filters.blur(inputs.image.pixels, inputs.blur_radius, inputs.sigma)
        return self.Outputs(image=Image(pixels))


@node("image.sharpen", title="Sharpen Image", category="image/filters", comfy="ImageSharpen")
class SharpenImage:
    """Unsharp masking over a (2 x sharpen_radius + 1)-square, by `alpha`."""

    class Inputs(BaseModel):
        image: Image
        sharpen_radius: int = Field(1, ge=1, le=31)
        sigma: Annotated[float, Widget(step=0.01)] = Field(1.0, ge=0.1, le=10.0)
        alpha: Annotated[float, Widget(step=0.01)] = Field(1.0, ge=0.0, le=5.0)

    class Outputs(BaseModel):
        image: Image

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import filters

        i = inputs
        pixels = filters.sharpen(i.image.pixels, i.sharpen_radius, i.sigma, i.alpha)
        return self.Outputs(image=Image(pixels))


@node(
    "image.scale_to_total_pixels",
    title="Scale Image to Total Pixels",
    category="image",
    comfy="ImageScaleToTotalPixels",
)
class ScaleImageToTotalPixels:
    """Resize to about `megapixels` x 1024^2 pixels, keeping the aspect ratio; each side a
    multiple of `resolution_steps`."""

    class Inputs(BaseModel):
        image: Image
        upscale_method: ScaleMethod = "nearest-exact"
        megapixels: Annotated[float, Widget(step=0.01)] = Field(1.0, ge=0.01, le=16.0)
        resolution_steps: int = Field(1, ge=1, le=256)

    class Outputs(BaseModel):
        image: Image

    cost = hook(edits.scale_to_total_pixels)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import filters
        from nodes.ops.pixels.image import resize

        i = inputs
        height, width = i.image.pixels.shape[1:3]
        new_h, new_w = filters.total_pixels_size(height, width, i.megapixels, i.resolution_steps)
        if max(new_h, new_w) > MAX_SIDE:
            raise NodeInputError(
                "megapixels", f"a {width}x{height} image would be {new_w}x{new_h}, over {MAX_SIDE}"
            )
        pixels = resize(i.image.pixels, new_w, new_h, i.upscale_method, "disabled")
        return self.Outputs(image=Image(pixels))


@node(
    "image.scale_to_max_dimension",
    title="Scale Image to Max Dimension",
    category="image",
    comfy="ImageScaleToMaxDimension",
)
class ScaleImageToMaxDimension:
    """Resize so the longer side is `largest_size`, keeping the aspect ratio."""

    class Inputs(BaseModel):
        image: Image
        upscale_method: Literal["area", "lanczos", "bilinear", "nearest-exact", "bicubic"] = "area"
        largest_size: int = Field(512, ge=0, le=MAX_SIDE)

    class Outputs(BaseModel):
        image: Image

    cost = hook(edits.scale_to_max_dimension)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import filters
        from nodes.ops.pixels.image import resize

        i = inputs
        if i.largest_size == 0:
            raise NodeInputError("largest_size", "must be at least 1 pixel")
        height, width = i.image.pixels.shape[1:3]
        new_h, new_w = filters.longest_side_size(height, width, i.largest_size)
        pixels = resize(i.image.pixels, new_w, new_h, i.upscale_method, "disabled")
        return self.Outputs(image=Image(pixels))


@node(
    "image.add_noise", title="Add Noise to Image", category="image/filters", comfy="ImageAddNoise"
)
class AddNoiseToImage:
    """Gaussian noise (as ComfyUI draws it from the seed) times `strength`, clamped."""

    class Inputs(BaseModel):
        image: Image
        seed: Annotated[int, Widget(randomize=True)] = Field(0, ge=0, le=0xFFFFFFFFFFFFFFFF)
        strength: Annotated[float, Widget(step=0.01)] = Field(0.5, ge=0.0, le=1.0)

    class Outputs(BaseModel):
        image: Image

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import filters

        i = inputs
        return self.Outputs(image=Image(filters.add_noise(i.image.pixels, i.seed, i.strength)))


@node("image.morphology", title="Image Morphology", category="image/filters", comfy="Morphology")
class ImageMorphology:
    """Erode, dilate, open, close, gradient, top_hat or bottom_hat with a flat
    kernel_size-square, each channel on its own."""

    class Inputs(BaseModel):
        image: Image
        operation: Literal[
            "erode", "dilate", "open", "close", "gradient", "bottom_hat", "top_hat"
        ] = "erode"
        kernel_size: int = Field(3, ge=3, le=999)

    class Outputs(BaseModel):
        image: Image

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels.morphology import morphology

        i = inputs
        return self.Outputs(image=Image(morphology(i.image.pixels, i.operation, i.kernel_size)))
