"""Latent nodes: empty latents, the VAE between pixels and latents, and latent edits."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from engine.context import NodeContext, NodeInputError
from engine.node import Widget, node
from engine.types import Image, Latent, Mask, Vae
from nodes.footprints import costs
from nodes.footprints.formulas import hook
from nodes.ops.pixels.methods import LatentUpscaleMethod

Size = Annotated[int, Widget(step=8)]
MAX_SIZE = 16384


@node("sd.empty_latent", title="Empty Latent", category="latent", comfy="EmptyLatentImage")
class EmptyLatent:
    """A blank latent to sample from: the image size (a multiple of 8) and batch size."""

    class Inputs(BaseModel):
        width: Size = Field(512, ge=16, le=MAX_SIZE, multiple_of=8)
        height: Size = Field(512, ge=16, le=MAX_SIZE, multiple_of=8)
        batch_size: int = Field(1, ge=1, le=4096)

    class Outputs(BaseModel):
        latent: Latent

    cost = hook(costs.empty_latent(4))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        import torch

        shape = (inputs.batch_size, 4, inputs.height // 8, inputs.width // 8)
        return self.Outputs(latent=Latent(torch.zeros(shape)))


@node(
    "sd.empty_latent_sd3",
    title="Empty Latent (SD3, Flux)",
    category="latent/sd3",
    comfy="EmptySD3LatentImage",
)
class EmptyLatentSD3:
    """A blank 16-channel latent, as the SD3 and Flux autoencoders make: the image size (a
    multiple of 16, as Flux packs 2x2 latent cells into a token) and batch size."""

    class Inputs(BaseModel):
        width: Annotated[int, Widget(step=16)] = Field(1024, ge=16, le=MAX_SIZE, multiple_of=16)
        height: Annotated[int, Widget(step=16)] = Field(1024, ge=16, le=MAX_SIZE, multiple_of=16)
        batch_size: int = Field(1, ge=1, le=4096)

    class Outputs(BaseModel):
        latent: Latent

    cost = hook(costs.empty_latent(16))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        import torch

        shape = (inputs.batch_size, 16, inputs.height // 8, inputs.width // 8)
        return self.Outputs(latent=Latent(torch.zeros(shape)))


def _vae(vae: Vae) -> object:
    return vae.handle.get()


@node("sd.vae_decode", title="VAE Decode", category="latent", comfy="VAEDecode")
class VAEDecode:
    """Latent to pixels."""

    class Inputs(BaseModel):
        samples: Latent
        vae: Vae

    class Outputs(BaseModel):
        image: Image

    cost = hook(costs.vae_decode)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import vae as ops

        vae, latent = _vae(inputs.vae), inputs.samples.samples
        problem = ops.latent_mismatch(vae, latent)
        if problem:
            raise NodeInputError("vae", problem)
        return self.Outputs(image=Image(ops.decode(vae, latent)))


@node("sd.vae_encode", title="VAE Encode", category="latent", comfy="VAEEncode")
class VAEEncode:
    """Pixels to latent (for img2img). Sizes are cropped to a multiple of 8."""

    class Inputs(BaseModel):
        pixels: Image
        vae: Vae

    class Outputs(BaseModel):
        latent: Latent

    cost = hook(costs.vae_encode)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import vae as ops

        return self.Outputs(latent=Latent(ops.encode(_vae(inputs.vae), inputs.pixels.pixels)))


@node(
    "sd.vae_encode_inpaint",
    title="VAE Encode (for Inpainting)",
    category="latent",
    comfy="VAEEncodeForInpaint",
)
class VAEEncodeForInpaint:
    """Encode an image with the masked area greyed out, and mark that area as the only
    part sampling may change."""

    class Inputs(BaseModel):
        pixels: Image
        vae: Vae
        mask: Mask
        grow_mask_by: int = Field(6, ge=0, le=64)

    class Outputs(BaseModel):
        latent: Latent

    cost = hook(costs.vae_encode)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import vae as ops

        vae = _vae(inputs.vae)
        pixels, mask = ops.prepare_inpaint(
            inputs.pixels.pixels, inputs.mask.values, ops.scale_factor(vae), inputs.grow_mask_by
        )
        return self.Outputs(latent=Latent(ops.encode(vae, pixels), mask[:, None]))


@node(
    "sd.set_latent_noise_mask",
    title="Set Latent Noise Mask",
    category="latent",
    comfy="SetLatentNoiseMask",
)
class SetLatentNoiseMask:
    """Only the masked area of the latent will be changed by sampling."""

    class Inputs(BaseModel):
        samples: Latent
        mask: Mask

    class Outputs(BaseModel):
        latent: Latent

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        values = inputs.mask.values
        mask = values.reshape(-1, 1, values.shape[-2], values.shape[-1])
        s = inputs.samples
        return self.Outputs(latent=Latent(s.samples, mask, s.batch_index))


@node("sd.latent_upscale", title="Upscale Latent", category="latent", comfy="LatentUpscale")
class LatentUpscale:
    """Resize a latent to an image size; 0 on one side keeps the aspect ratio."""

    class Inputs(BaseModel):
        samples: Latent
        upscale_method: LatentUpscaleMethod = "nearest-exact"
        width: Size = Field(512, ge=0, le=MAX_SIZE, multiple_of=8)
        height: Size = Field(512, ge=0, le=MAX_SIZE, multiple_of=8)
        crop: Literal["disabled", "center"] = "disabled"

    class Outputs(BaseModel):
        latent: Latent

    cost = hook(costs.resized_latent)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import latent as ops
        from nodes.ops.pixels.image import target_size

        s = inputs.samples.samples
        h, w = target_size(s.shape[-2] * 8, s.shape[-1] * 8, inputs.width, inputs.height)
        out = ops.resize(s, max(1, h // 8), max(1, w // 8), inputs.upscale_method, inputs.crop)
        return self.Outputs(latent=Latent(out, None, inputs.samples.batch_index))


@node("sd.latent_upscale_by", title="Upscale Latent By", category="latent", comfy="LatentUpscaleBy")
class LatentUpscaleBy:
    """Resize a latent by a factor."""

    class Inputs(BaseModel):
        samples: Latent
        upscale_method: LatentUpscaleMethod = "nearest-exact"
        scale_by: Annotated[float, Widget(step=0.01)] = Field(1.5, ge=0.01, le=8.0)

    class Outputs(BaseModel):
        latent: Latent

    cost = hook(costs.resized_latent)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import latent as ops

        s = inputs.samples.samples
        h, w = (max(1, round(d * inputs.scale_by)) for d in s.shape[-2:])
        out = ops.resize(s, h, w, inputs.upscale_method, "disabled")
        return self.Outputs(latent=Latent(out, None, inputs.samples.batch_index))


@node("sd.latent_composite", title="Latent Composite", category="latent", comfy="LatentComposite")
class LatentComposite:
    """Paste one latent into another at a pixel position (multiple of 8)."""

    class Inputs(BaseModel):
        samples_to: Latent
        samples_from: Latent
        x: Size = Field(0, ge=0, le=MAX_SIZE, multiple_of=8)
        y: Size = Field(0, ge=0, le=MAX_SIZE, multiple_of=8)
        feather: Size = Field(0, ge=0, le=MAX_SIZE, multiple_of=8)

    class Outputs(BaseModel):
        latent: Latent

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import latent as ops

        to, src = inputs.samples_to, inputs.samples_from
        out = ops.composite(
            to.samples, src.samples, inputs.x // 8, inputs.y // 8, inputs.feather // 8
        )
        return self.Outputs(latent=Latent(out, to.noise_mask, to.batch_index))


@node("sd.latent_blend", title="Latent Blend", category="latent", comfy="LatentBlend")
class LatentBlend:
    """Mix two latents: samples1 x blend_factor + samples2 x (1 - blend_factor). A
    samples2 of another size is resized to samples1's first (bicubic, centre crop)."""

    class Inputs(BaseModel):
        samples1: Latent
        samples2: Latent
        blend_factor: Annotated[float, Widget(step=0.01)] = Field(0.5, ge=0.0, le=1.0)

    class Outputs(BaseModel):
        latent: Latent

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import latent as ops

        first, second = inputs.samples1, inputs.samples2
        try:
            out = ops.blend(first.samples, second.samples, inputs.blend_factor)
        except ValueError as exc:
            raise NodeInputError("samples2", str(exc)) from None
        return self.Outputs(latent=Latent(out, first.noise_mask, first.batch_index))


@node("sd.latent_from_batch", title="Latent From Batch", category="latent", comfy="LatentFromBatch")
class LatentFromBatch:
    """Pick items from a batch; each keeps its seed, so it re-renders identically."""

    class Inputs(BaseModel):
        samples: Latent
        batch_index: int = Field(0, ge=0, le=4095)
        length: int = Field(1, ge=1, le=4096)

    class Outputs(BaseModel):
        latent: Latent

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import latent as ops

        return self.Outputs(latent=ops.pick(inputs.samples, inputs.batch_index, inputs.length))


@node(
    "sd.repeat_latent_batch",
    title="Repeat Latent Batch",
    category="latent",
    comfy="RepeatLatentBatch",
)
class RepeatLatentBatch:
    """Repeat a batch (e.g. to get several variations of one img2img source)."""

    class Inputs(BaseModel):
        samples: Latent
        amount: int = Field(1, ge=1, le=64)

    class Outputs(BaseModel):
        latent: Latent

    cost = hook(costs.repeated_latent)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import latent as ops

        return self.Outputs(latent=ops.repeat(inputs.samples, inputs.amount))
