"""Which family's loader a file goes to, for the loader nodes: a checkpoint, a diffusion
model alone, a VAE, text encoders. Files are told apart by their keys and shapes (a header
read); a file of the wrong kind is refused naming what it is and where it belongs."""

from __future__ import annotations

import json
from pathlib import Path

from engine.device import DevicePolicy
from engine.model_store import ModelKey, ModelStore
from engine.types import Clip, Model, Vae
from nodes.ops.families.flux import detect, identify
from nodes.ops.families.flux import loading as flux
from nodes.ops.families.sd import loading as sd
from nodes.ops.families.sd import standalone
from nodes.ops.text.encoding import TextEncoder, TextEncoders
from nodes.ops.weights.build import path_fingerprint, place
from nodes.ops.weights.checkpoint_io import read_shapes


def _shapes(path: Path) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v) for k, v in read_shapes(path)[0].items()}


def _is_flux_folder(path: Path) -> bool:
    index = path / "model_index.json"
    if not index.is_file():
        return False
    return str(json.loads(index.read_text(encoding="utf-8")).get("_class_name", "")).startswith(
        "Flux"
    )


def load_checkpoint(
    path: Path, store: ModelStore, devices: DevicePolicy, prediction: str = "auto"
) -> tuple[Model, Clip, Vae]:
    """Load Checkpoint: an SD checkpoint, a Flux all-in-one file, or either's diffusers
    folder. A part alone (a Flux transformer, a VAE, ...) is refused with where it goes."""
    if path.is_dir():
        if _is_flux_folder(path):
            return flux.load_checkpoint(path, store, devices)
        return sd.load_checkpoint(path, store, devices, prediction)
    shapes = _shapes(path)
    belongs = identify.placement(shapes)
    if belongs == identify.CHECKPOINT:
        return flux.load_checkpoint(path, store, devices)
    if belongs != identify.STABLE_DIFFUSION:
        raise identify.refuse(shapes, "a checkpoint")
    return sd.load_checkpoint(path, store, devices, prediction)


def load_diffusion_model(
    path: Path, store: ModelStore, devices: DevicePolicy, weight_dtype: str = "default"
) -> Model:
    """Load Diffusion Model: a Flux transformer, or an SD/SDXL UNet alone."""
    shapes = _shapes(path)
    belongs = identify.placement(shapes)
    if belongs == identify.DIFFUSION_MODEL:
        return flux.load_transformer(path, store, devices, weight_dtype)
    if belongs != identify.STABLE_DIFFUSION:
        raise identify.refuse(shapes, "a diffusion model (a Flux transformer or an SD UNet)")
    return sd.load_unet(path, store, devices, weight_dtype)


def load_vae(path: Path, store: ModelStore, devices: DevicePolicy) -> Vae:
    """Load VAE: SD's 4-channel VAE, or Flux's 16-channel AE, told apart by their shapes."""
    if identify.placement(_shapes(path)) == identify.VAE:
        return flux.load_ae(path, store, devices)
    return standalone.load_vae(path, store, devices)


def load_text_encoders(
    paths: tuple[Path, Path], kind: str, store: ModelStore, devices: DevicePolicy
) -> Clip:
    """Dual CLIP Loader: type flux (CLIP-L + T5, either order)."""
    if kind != "flux":
        raise ValueError(f"type {kind!r} is not supported yet; flux is (CLIP-L + T5-XXL)")
    return flux.load_text_encoders(paths, store, devices)


def load_text_encoder(path: Path, kind: str, store: ModelStore, devices: DevicePolicy) -> Clip:
    """Load CLIP: type stable_diffusion (a CLIP-L as SD 1.x's text encoder)."""
    if kind != "stable_diffusion":
        raise ValueError(f"type {kind!r} is not supported yet; stable_diffusion is (CLIP-L)")
    source = flux.FluxFile(path)
    found = detect.detect_clip_l(source.shapes, source.metadata)

    def build() -> TextEncoders:
        model = place(flux.build_clip_l(source, found), devices)
        return TextEncoders("sd1", [TextEncoder("clip_l", model, "eos", -1, True)])

    key = ModelKey("text_encoder", str(path), path_fingerprint(path), "sd1")
    clip = Clip(store.handle(key, build), {"family": "sd1", "layer": None, "patches": ()})
    clip.handle.get()
    return clip
