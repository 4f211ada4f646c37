"""Image nodes: make, load, transform, save and preview images."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from engine.context import NodeContext, NodeInputError
from engine.model_store import file_fingerprint
from engine.node import Widget, node
from engine.paths import IMAGE_SUFFIXES, UnsafePath, annotated_file, list_files, split_annotation
from engine.settings import Settings
from engine.types import Image, Mask
from formats.png import workflow_texts
from nodes.footprints import costs
from nodes.footprints.formulas import hook
from nodes.ops.pixels.methods import ImageUpscaleMethod

MAX_SIDE = 16384


def input_images(settings: Settings) -> list[str]:
    """Image files in the input folder (uploads land there)."""
    return list_files(settings.input_dir, IMAGE_SUFFIXES)


def annotated_image(settings: Settings, name: str) -> bool | str:
    """Whether `name` is an existing image named the ComfyUI way, `x.png [output]` (or
    `[input]`, `[temp]`; ComfyUI's editor sends these for a picture taken from a job's
    results): True, False for a plain name, or why an annotated one is refused."""
    plain, folder = split_annotation(name)
    if folder is None:
        return False
    try:
        path = annotated_file(settings, name)
    except UnsafePath as exc:
        return str(exc)
    if not plain.lower().endswith(IMAGE_SUFFIXES):
        return f"{plain!r} is not an image file ({', '.join(IMAGE_SUFFIXES)})"
    return path.is_file() or f"no image {plain!r} in the {folder} folder"


def image_file(settings: Settings, name: str) -> Path:
    """The file Load Image reads: in the input folder, or the folder an annotation names;
    UnsafePath for a name that would leave it."""
    return annotated_file(settings, name, default="input")


@node("image.empty", title="Empty Image", category="image", comfy="EmptyImage")
class EmptyImage:
    """A batch of images of one solid colour."""

    class Inputs(BaseModel):
        width: Annotated[int, Widget(step=8)] = Field(512, ge=1, le=MAX_SIDE)
        height: Annotated[int, Widget(step=8)] = Field(512, ge=1, le=MAX_SIDE)
        batch_size: int = Field(1, ge=1, le=4096)
        color: int = Field(0, ge=0, le=0xFFFFFF, description="RGB as 0xRRGGBB")

    class Outputs(BaseModel):
        image: Image

    cost = hook(costs.empty_image)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import image as ops

        pixels = ops.solid(inputs.width, inputs.height, inputs.batch_size, inputs.color)
        return self.Outputs(image=Image(pixels))


@node("image.load", title="Load Image", category="image", comfy="LoadImage")
class LoadImage:
    """An image from the input folder, with a mask from its transparency."""

    class Inputs(BaseModel):
        image: Annotated[str, Widget(choices=input_images, accepts=annotated_image)]

    class Outputs(BaseModel):
        image: Image
        mask: Mask

    @classmethod
    def fingerprint(cls, widgets: Mapping[str, Any], settings: Settings) -> str:
        # A file replaced under the same name must be read again.
        return file_fingerprint(image_file(settings, widgets["image"]))

    cost = hook(costs.load_image)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import image as ops

        try:
            pixels, mask = ops.load(image_file(ctx.settings, inputs.image))
        except (UnsafePath, OSError) as exc:
            raise NodeInputError("image", f"cannot read image {inputs.image!r}: {exc}") from None
        return self.Outputs(image=Image(pixels), mask=Mask(mask))


@node("image.invert", title="Invert Image", category="image", comfy="ImageInvert")
class InvertImage:
    """Each colour replaced by its opposite."""

    class Inputs(BaseModel):
        image: Image

    class Outputs(BaseModel):
        image: Image

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import image as ops

        return self.Outputs(image=Image(ops.invert(inputs.image.pixels)))


@node("image.scale", title="Scale Image", category="image", comfy="ImageScale")
class ScaleImage:
    """Resize to a width and height; 0 on one side keeps the aspect ratio."""

    class Inputs(BaseModel):
        image: Image
        upscale_method: ImageUpscaleMethod = "bilinear"
        width: Annotated[int, Widget(step=8)] = Field(512, ge=0, le=MAX_SIDE)
        height: Annotated[int, Widget(step=8)] = Field(512, ge=0, le=MAX_SIDE)
        crop: Literal["disabled", "center"] = "disabled"

    class Outputs(BaseModel):
        image: Image

    cost = hook(costs.scale_image)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import image as ops

        pixels = ops.resize(
            inputs.image.pixels, inputs.width, inputs.height, inputs.upscale_method, inputs.crop
        )
        return self.Outputs(image=Image(pixels))


@node("image.save", title="Save Image", category="image", output=True, comfy="SaveImage")
class SaveImage:
    """Write PNGs to the output folder, each carrying the workflow that made it."""

    class Inputs(BaseModel):
        images: Image
        filename_prefix: Annotated[str, Widget(file_name=True)] = "diffgraph"

    class Outputs(BaseModel):
        pass

    cost = hook(costs.save_images)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import image as ops

        try:
            saved = ops.save_png(
                inputs.images.pixels,
                ctx.settings.output_dir,
                inputs.filename_prefix,
                workflow_texts(ctx.workflow, ctx.registry),
            )
        except UnsafePath as exc:
            raise NodeInputError("filename_prefix", str(exc)) from None
        ctx.show(images=[{"filename": f, "subfolder": s, "type": "output"} for f, s in saved])
        return self.Outputs()


@node("image.preview", title="Preview Image", category="image", output=True, comfy="PreviewImage")
class PreviewImage:
    """Show images without keeping them (written to the temp folder)."""

    class Inputs(BaseModel):
        images: Image

    class Outputs(BaseModel):
        pass

    cost = hook(costs.save_images)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import image as ops

        saved = ops.save_png(inputs.images.pixels, ctx.settings.temp_dir, "preview", {})
        ctx.show(images=[{"filename": f, "subfolder": s, "type": "temp"} for f, s in saved])
        return self.Outputs()


@node("image.canny", title="Canny Edges", category="image/preprocessors", comfy="Canny")
class CannyEdges:
    """White edges on black, as the canny ControlNet expects."""

    class Inputs(BaseModel):
        image: Image
        low_threshold: Annotated[float, Widget(step=0.01)] = Field(0.4, ge=0.01, le=0.99)
        high_threshold: Annotated[float, Widget(step=0.01)] = Field(0.8, ge=0.01, le=0.99)

    class Outputs(BaseModel):
        image: Image

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels.canny import canny

        if inputs.low_threshold > inputs.high_threshold:
            raise NodeInputError("low_threshold", "must not be above high_threshold")
        edges = canny(inputs.image.pixels, inputs.low_threshold, inputs.high_threshold)
        return self.Outputs(image=Image(edges))
