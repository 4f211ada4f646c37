"""Model patch and merge nodes: a LoRA on the model alone, FreeU v2, RescaleCFG, weight
merges of two models or two text encoders, and tiled VAE decode/encode. ComfyUI's names,
inputs, defaults and output order. The patch nodes never change the shared network in the
model store: each returns a new value whose config says how the network is to be used."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from pydantic import BaseModel, Field

from engine.context import NodeContext, NodeInputError
from engine.model_paths import choices_for
from engine.node import Widget, node
from engine.types import Clip, Image, Latent, Model, Vae
from nodes.footprints import costs
from nodes.footprints.formulas import hook
from nodes.sd_loaders import Strength, fingerprint_of, model_file, reported_as

Factor = Annotated[float, Widget(step=0.01)]
Ratio = Annotated[float, Widget(step=0.01)]
TileSize = Field(512, ge=64, le=4096)
Overlap = Field(64, ge=0, le=4096)
TemporalSize = Field(64, ge=8, le=4096, description="Video VAEs only: frames per tile")
TemporalOverlap = Field(8, ge=4, le=4096, description="Video VAEs only: frames of overlap")


@contextmanager
def refused_at(input_name: str) -> Iterator[None]:
    """A patch or merge that cannot apply, as an error about one input."""
    try:
        yield
    except ValueError as exc:
        raise NodeInputError(input_name, str(exc)) from None


@node(
    "sd.load_lora_model_only",
    title="Load LoRA (model only)",
    category="loaders",
    comfy="LoraLoaderModelOnly",
)
class LoadLoRAModelOnly:
    """Apply a LoRA to the denoiser alone (its text-encoder layers, if any, are left out)."""

    class Inputs(BaseModel):
        model: Model
        lora_name: Annotated[str, Widget(choices=choices_for("loras"))]
        strength_model: Strength = Field(1.0, ge=-100.0, le=100.0)

    class Outputs(BaseModel):
        model: Model

    fingerprint = fingerprint_of("loras", "lora_name")

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.families.patches import add_model_lora

        with reported_as("lora_name", inputs.lora_name):
            path = model_file(ctx.settings, "loras", inputs.lora_name)
            model = add_model_lora(
                path,
                inputs.model,
                inputs.strength_model,
                ctx.models,
                warn=lambda message: ctx.show(warnings=[message]),  # layers that fit nothing
            )
        return self.Outputs(model=model)


@node("sd.freeu_v2", title="FreeU V2", category="model_patches/unet", comfy="FreeU_V2")
class FreeUV2:
    """FreeU v2: boost the UNet decoder's backbone features (b1 at the deepest width, b2
    at the next) and damp its skip connections' lowest frequencies (s1, s2). 1 = off."""

    class Inputs(BaseModel):
        model: Model
        b1: Factor = Field(1.3, ge=0.0, le=10.0)
        b2: Factor = Field(1.4, ge=0.0, le=10.0)
        s1: Factor = Field(0.9, ge=0.0, le=10.0)
        s2: Factor = Field(0.2, ge=0.0, le=10.0)

    class Outputs(BaseModel):
        model: Model

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.families.model_patches import add_freeu
        from nodes.ops.families.sd.freeu import FreeU

        i = inputs
        with refused_at("model"):
            return self.Outputs(model=add_freeu(i.model, FreeU(i.b1, i.b2, i.s1, i.s2)))


@node("sd.rescale_cfg", title="Rescale CFG", category="advanced/model", comfy="RescaleCFG")
class RescaleCFG:
    """Rescale classifier-free guidance (Lin et al. 2023) to the conditional prediction's
    standard deviation, mixed in by `multiplier` (0: plain CFG): less over-exposure at
    high CFG, meant for v-prediction models and zero-terminal-SNR schedules."""

    class Inputs(BaseModel):
        model: Model
        multiplier: Factor = Field(0.7, ge=0.0, le=1.0)

    class Outputs(BaseModel):
        model: Model

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        model = inputs.model
        config = {**model.config, "rescale_cfg": inputs.multiplier}
        return self.Outputs(model=Model(model.handle, config))


@node(
    "sd.model_merge_simple",
    title="Model Merge Simple",
    category="advanced/model_merging",
    comfy="ModelMergeSimple",
)
class ModelMergeSimple:
    """ratio * model1 + (1 - ratio) * model2, weight by weight, LoRAs included (1: all
    model1). The models must be of one family and shape. Blended layer by layer as the
    network runs, so no third copy of the weights is made."""

    class Inputs(BaseModel):
        model1: Model
        model2: Model
        ratio: Ratio = Field(1.0, ge=0.0, le=1.0)

    class Outputs(BaseModel):
        model: Model

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.families.model_patches import merge_models

        with refused_at("model2"):
            return self.Outputs(model=merge_models(inputs.model1, inputs.model2, inputs.ratio))


@node(
    "sd.clip_merge_simple",
    title="CLIP Merge Simple",
    category="advanced/model_merging",
    comfy="CLIPMergeSimple",
)
class CLIPMergeSimple:
    """ratio * clip1 + (1 - ratio) * clip2, each text encoder weight by weight (1: all
    clip1). The text encoders must be the same kinds and shapes."""

    class Inputs(BaseModel):
        clip1: Clip
        clip2: Clip
        ratio: Ratio = Field(1.0, ge=0.0, le=1.0)

    class Outputs(BaseModel):
        clip: Clip

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.families.model_patches import merge_clips

        with refused_at("clip2"):
            return self.Outputs(clip=merge_clips(inputs.clip1, inputs.clip2, inputs.ratio))


@node(
    "sd.vae_decode_tiled",
    title="VAE Decode (Tiled)",
    category="_for_testing",
    comfy="VAEDecodeTiled",
)
class VAEDecodeTiled:
    """Latent to pixels in overlapping tiles of `tile_size` pixels, blended across
    `overlap`: large images in bounded memory. The temporal inputs are for video VAEs,
    accepted for ComfyUI's workflows and unused by image VAEs."""

    class Inputs(BaseModel):
        samples: Latent
        vae: Vae
        tile_size: Annotated[int, Widget(step=32)] = TileSize
        overlap: Annotated[int, Widget(step=32)] = Overlap
        temporal_size: Annotated[int, Widget(step=4)] = TemporalSize
        temporal_overlap: Annotated[int, Widget(step=4)] = TemporalOverlap

    class Outputs(BaseModel):
        image: Image

    cost = hook(costs.vae_decode)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels import vae as ops
        from nodes.ops.pixels.tiled_vae import decode_tiled

        vae, latent = inputs.vae.handle.get(), inputs.samples.samples
        problem = ops.latent_mismatch(vae, latent)
        if problem:
            raise NodeInputError("vae", problem)
        pixels = decode_tiled(vae, latent, inputs.tile_size, inputs.overlap)
        return self.Outputs(image=Image(pixels))


@node(
    "sd.vae_encode_tiled",
    title="VAE Encode (Tiled)",
    category="_for_testing",
    comfy="VAEEncodeTiled",
)
class VAEEncodeTiled:
    """Pixels to latent in overlapping tiles of `tile_size` pixels, blended across
    `overlap`. Sizes are cropped to a multiple of 8, as VAE Encode does."""

    class Inputs(BaseModel):
        pixels: Image
        vae: Vae
        tile_size: Annotated[int, Widget(step=64)] = TileSize
        overlap: Annotated[int, Widget(step=32)] = Overlap
        temporal_size: Annotated[int, Widget(step=4)] = TemporalSize
        temporal_overlap: Annotated[int, Widget(step=4)] = TemporalOverlap

    class Outputs(BaseModel):
        latent: Latent

    cost = hook(costs.vae_encode)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.pixels.tiled_vae import encode_tiled

        vae = inputs.vae.handle.get()
        with refused_at("pixels"):
            latent = encode_tiled(vae, inputs.pixels.pixels, inputs.tile_size, inputs.overlap)
        return self.Outputs(latent=Latent(latent))
