"""Loader nodes: checkpoints, VAEs, LoRAs and ControlNets from the model folders, and
saving a checkpoint back as one original-layout .safetensors file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from engine.context import NodeContext, NodeInputError
from engine.model_paths import ModelPaths, choices_for
from engine.model_store import file_fingerprint
from engine.node import Widget, node
from engine.paths import UnsafePath
from engine.settings import Settings
from engine.types import Clip, ControlNet, Model, Vae
from nodes.footprints import costs
from nodes.footprints.formulas import hook

# Imported in the background once the server is up (`engine.warmup`): torch, then every
# family's loading code, which pulls in diffusers' UNet/VAE and transformers' CLIP/T5. The
# first Load Checkpoint otherwise spends most of its time on these imports.
WARM_IMPORTS = ("torch", "nodes.ops.families.files")


def model_file(settings: Settings, kind: str, name: str) -> Path:
    return ModelPaths.from_settings(settings).resolve(kind, name)


def fingerprint_of(kind: str, widget: str) -> Any:
    """A fingerprint hook: the identity of the chosen model file (a replaced file reloads)."""

    def fingerprint(cls: type, widgets: Mapping[str, Any], settings: Settings) -> str:
        return file_fingerprint(model_file(settings, kind, widgets[widget]))

    return classmethod(fingerprint)


@contextmanager
def reported_as(input_name: str, name: str) -> Iterator[None]:
    """Turn a loader's refusal (bad or missing file) into an error about one input."""
    try:
        yield
    except (FileNotFoundError, UnsafePath, ValueError) as exc:
        raise NodeInputError(input_name, f"cannot load {name!r}: {exc}") from None


Strength = Annotated[float, Widget(step=0.01)]


@node(
    "sd.load_checkpoint",
    title="Load Checkpoint",
    category="loaders",
    comfy="CheckpointLoaderSimple",
)
class LoadCheckpoint:
    """A checkpoint: SD 1.x, 2.x, SDXL (base, refiner, inpainting) or a Flux all-in-one
    file, one .safetensors file or a diffusers folder: its denoiser, text encoder(s), VAE."""

    class Inputs(BaseModel):
        ckpt_name: Annotated[str, Widget(choices=choices_for("checkpoints"))]
        prediction: Literal["auto", "epsilon", "v_prediction"] = Field(
            "auto", description="What the model predicts; 'auto' detects it where possible"
        )

    class Outputs(BaseModel):
        model: Model
        clip: Clip
        vae: Vae

    fingerprint = fingerprint_of("checkpoints", "ckpt_name")

    cost = hook(costs.loader("checkpoints", ("ckpt_name",), costs.CHECKPOINT_PARTS))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.families import files

        with reported_as("ckpt_name", inputs.ckpt_name):
            path = model_file(ctx.settings, "checkpoints", inputs.ckpt_name)
            model, clip, vae = files.load_checkpoint(
                path, ctx.models, ctx.devices, inputs.prediction
            )
        return self.Outputs(model=model, clip=clip, vae=vae)


@node("sd.load_vae", title="Load VAE", category="loaders", comfy="VAELoader")
class LoadVAE:
    """A standalone VAE file: SD's (e.g. a fixed SDXL or SD 1.5 VAE) or Flux's 16-channel
    AE (ae.safetensors), told apart by their shapes."""

    class Inputs(BaseModel):
        vae_name: Annotated[str, Widget(choices=choices_for("vae"))]

    class Outputs(BaseModel):
        vae: Vae

    fingerprint = fingerprint_of("vae", "vae_name")

    cost = hook(costs.loader("vae", ("vae_name",), {"vae": "all"}))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.families import files

        with reported_as("vae_name", inputs.vae_name):
            path = model_file(ctx.settings, "vae", inputs.vae_name)
            return self.Outputs(vae=files.load_vae(path, ctx.models, ctx.devices))


@node("sd.load_lora", title="Load LoRA", category="loaders", comfy="LoraLoader")
class LoadLoRA:
    """Apply a LoRA to the denoiser and text encoder: LoRA, LoCon, LoHa, LoKr or DoRA, in
    kohya, LyCORIS, diffusers/PEFT or ai-toolkit naming. Layers that match nothing in the
    model are reported (a warning in the node's output); a file that matches nothing is
    refused."""

    class Inputs(BaseModel):
        model: Model
        clip: Clip
        lora_name: Annotated[str, Widget(choices=choices_for("loras"))]
        strength_model: Strength = Field(1.0, ge=-100.0, le=100.0)
        strength_clip: Strength = Field(1.0, ge=-100.0, le=100.0)

    class Outputs(BaseModel):
        model: Model
        clip: Clip

    fingerprint = fingerprint_of("loras", "lora_name")

    cost = hook(costs.lora)

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.families import patches

        i = inputs
        with reported_as("lora_name", i.lora_name):
            path = model_file(ctx.settings, "loras", i.lora_name)
            model, clip = patches.add_lora(
                path,
                i.model,
                i.clip,
                i.strength_model,
                i.strength_clip,
                ctx.models,
                warn=lambda message: ctx.show(warnings=[message]),
            )
        return self.Outputs(model=model, clip=clip)


@node("sd.load_controlnet", title="Load ControlNet", category="loaders", comfy="ControlNetLoader")
class LoadControlNet:
    """A ControlNet model file (original layout or diffusers format)."""

    class Inputs(BaseModel):
        control_net_name: Annotated[str, Widget(choices=choices_for("controlnet"))]

    class Outputs(BaseModel):
        control_net: ControlNet

    fingerprint = fingerprint_of("controlnet", "control_net_name")

    cost = hook(costs.loader("controlnet", ("control_net_name",), {"control_net": "all"}))

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.families.sd import standalone

        with reported_as("control_net_name", inputs.control_net_name):
            path = model_file(ctx.settings, "controlnet", inputs.control_net_name)
            control = standalone.load_controlnet(path, ctx.models, ctx.devices)
        return self.Outputs(control_net=control)


@node(
    "sd.save_checkpoint",
    title="Save Checkpoint",
    category="loaders",
    output=True,
    comfy="CheckpointSave",
)
class SaveCheckpoint:
    """Write the model, text encoder(s) and VAE (LoRAs merged in) as one single-file
    .safetensors in the original layout, under the output folder."""

    class Inputs(BaseModel):
        model: Model
        clip: Clip
        vae: Vae
        filename_prefix: Annotated[str, Widget(file_name=True)] = "checkpoints/diffgraph"

    class Outputs(BaseModel):
        pass

    def run(self, inputs: Inputs, ctx: NodeContext) -> Outputs:
        from nodes.ops.families.sd import saving

        try:
            path = saving.next_path(ctx.settings.output_dir, inputs.filename_prefix)
        except UnsafePath as exc:
            raise NodeInputError("filename_prefix", str(exc)) from None
        saving.save_checkpoint(path, inputs.model, inputs.clip, inputs.vae, ctx.models)
        relative = path.relative_to(ctx.settings.output_dir.resolve())
        ctx.show(
            checkpoints=[
                {
                    "filename": relative.name,
                    "subfolder": relative.parent.as_posix(),
                    "type": "output",
                }
            ]
        )
        return self.Outputs()
