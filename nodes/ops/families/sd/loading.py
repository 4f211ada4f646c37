"""Loading SD checkpoints (single files and diffusers folders) into the model store.

A checkpoint's family is detected from its keys and shapes (header only); each component
(UNet, text encoders, VAE) is then a separate store entry that reads just its own keys,
converts them with diffusers' helpers and fills a model built from a config: the one the
file carries (written by our Save Checkpoint) or the published one shipped in configs/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from engine.device import DevicePolicy
from engine.model_store import ModelKey, ModelStore
from engine.types import Clip, Model, Vae
from nodes.ops.families.sd import layout as L
from nodes.ops.families.sd.detect import detect, detect_folder
from nodes.ops.families.sd.shipped_configs import load_config
from nodes.ops.text.encoding import TextEncoder, TextEncoders
from nodes.ops.weights.build import (
    META,
    WEIGHT_DTYPES,
    fill_model,
    held_dtype,
    path_fingerprint,
    place,
    read_for,
    sidecar_metadata,
    store_weights_in,
)
from nodes.ops.weights.checkpoint_io import (
    CheckpointError,
    read_shapes,
    stored_float_dtype,
)

SCHEDULE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
ROLES = {  # text encoder component -> (name, pad, pooled) per family
    "sd1": {"text_encoder": ("clip_l", "eos", False)},
    "sd2": {"text_encoder": ("clip_h", "zero", False)},
    "sdxl": {"text_encoder": ("clip_l", "eos", False), "text_encoder_2": ("clip_g", "zero", True)},
    "sdxl_refiner": {"text_encoder_2": ("clip_g", "zero", True)},
}


class Source:
    """One checkpoint on disk: its detection, embedded configs and per-component reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.metadata: dict[str, str] = {}
        if path.is_dir():
            self.detection = detect_folder(path)
        else:
            shapes, self.metadata = read_shapes(path)
            self.metadata.update(sidecar_metadata(path))
            self.detection = detect(shapes)

    def config(self, component: str) -> dict[str, Any]:
        d = self.detection
        if d.layout == "diffusers":
            return dict(json.loads((self.path / component / "config.json").read_text()))
        embedded = self.metadata.get(f"{META}{component}_config")
        if embedded:
            return dict(json.loads(embedded))
        return load_config(d.family, component, d.inpaint and component == "unet")

    def tensors(
        self, component: str, dtype: torch.dtype | None = None, devices: DevicePolicy | None = None
    ) -> dict[str, torch.Tensor]:
        """The component's tensors in the file's own layout and names; floating ones in
        `dtype` when given (the dtype the model will compute in: converted as they are
        read, so no second full copy in the stored dtype is ever held), placed for `devices`."""
        keys = self.detection.keys_of
        return read_for(self.path, lambda names: keys(component, names), dtype, devices)

    def held(self, component: str, compute: torch.dtype, devices: DevicePolicy) -> torch.dtype:
        """The dtype to hold the component's weights in (its stored half precision when
        the model computes wider, see `precision.weights_dtype`)."""
        if self.detection.layout == "diffusers":
            return compute
        keys = self.detection.keys_of
        stored = stored_float_dtype(self.path, lambda names: keys(component, names))
        return held_dtype(stored, compute, devices)


def build_unet(source: Source, devices: DevicePolicy) -> UNet2DConditionModel:
    config = source.config("unet")
    if source.detection.layout == "diffusers":
        unet = UNet2DConditionModel.from_pretrained(source.path, subfolder="unet")
    else:
        with torch.device("meta"):
            unet = UNet2DConditionModel.from_config(config)
        held = source.held("unet", devices.dtype, devices)
        tensors = source.tensors("unet", held, devices)
        state = L.unet_from_ldm(tensors, config, source.detection.unet_prefix)
        fill_model(unet, state, "UNet", source.path)
        return place(unet, devices, held=held)
    return place(unet, devices)


def build_vae(source: Source, devices: DevicePolicy, prefix: str | None = None) -> AutoencoderKL:
    if source.detection.layout == "diffusers":
        vae = AutoencoderKL.from_pretrained(source.path, subfolder="vae")
        return place(vae, devices, vae_dtype(vae.config, devices))
    config = source.config("vae")
    with torch.device("meta"):
        vae = AutoencoderKL.from_config(config)
    compute = vae_dtype(config, devices)
    held = source.held("vae", compute, devices)
    tensors = source.tensors("vae", held, devices)
    state = L.vae_from_ldm(tensors, config, source.detection.vae_prefix or "")
    fill_model(vae, state, "VAE", source.path)
    return place(vae, devices, compute, held)


def vae_dtype(config: Any, devices: DevicePolicy) -> torch.dtype:
    """Some families' VAEs (SDXL's) overflow float16: where the device would compute in
    float16 they run in bfloat16 if it can, else float32."""
    upcast = bool(config.get("force_upcast"))
    return (
        devices.overflow_safe_dtype if upcast and devices.dtype == torch.float16 else devices.dtype
    )


def _text_model(config: dict[str, Any], pooled: bool) -> Any:
    arch = (config.get("architectures") or [""])[0]
    cls = CLIPTextModelWithProjection if pooled or "Projection" in arch else CLIPTextModel
    return cls(CLIPTextConfig.from_dict(config))


def build_text_encoders(source: Source, devices: DevicePolicy) -> TextEncoders:
    d = source.detection
    if not d.has_text_encoders:
        raise CheckpointError(
            source.path, "this checkpoint has no (complete) text encoder; it cannot encode prompts"
        )
    encoders = []
    for slot in d.text_encoders:
        name, pad, pooled = ROLES[d.family][slot.component]
        held: torch.dtype | None = None
        if d.layout == "diffusers":
            cls = CLIPTextModelWithProjection if pooled else CLIPTextModel
            model = cls.from_pretrained(source.path / slot.component)
        else:
            config = source.config(slot.component)
            with torch.device("meta"):
                model = _text_model(config, pooled)
            convert = L.clip_from_ldm if slot.style == "clip" else L.open_clip_from_ldm
            held = source.held(slot.component, devices.text_dtype, devices)
            state = convert(source.tensors(slot.component, held, devices), model, slot.prefix)
            fill_model(model, state, f"text encoder {slot.component}", source.path)
        layers = int(model.config.num_hidden_layers)
        # SD1 reads the last layer; SD2 the 23rd of OpenCLIP's 24 (a 23-layer diffusers
        # copy ends there); SDXL the penultimate of both, without the final norm.
        layer = -1 if d.family == "sd1" or (d.family == "sd2" and layers == 23) else -2
        final_norm = d.family in ("sd1", "sd2")
        placed = place(model, devices, devices.text_dtype, held)
        encoders.append(TextEncoder(name, placed, pad, layer, final_norm, pooled))  # type: ignore[arg-type]
    return TextEncoders(d.family, encoders)


def prediction_type(source: Source, override: str) -> str:
    if override != "auto":
        return override
    embedded = source.metadata.get(f"{META}prediction_type")
    if embedded:
        return embedded
    if source.detection.layout == "diffusers":
        scheduler = source.path / "scheduler" / "scheduler_config.json"
        if scheduler.is_file():
            return str(json.loads(scheduler.read_text()).get("prediction_type", "epsilon"))
    # SD 2.x 768 models predict v; its 512 base and inpainting models predict epsilon,
    # which the user picks with the override (the weights do not tell).
    d = source.detection
    return "v_prediction" if d.family == "sd2" and not d.inpaint else "epsilon"


def model_config(source: Source, prediction: str) -> dict[str, Any]:
    """The Model port's config: the family, what it predicts, its latent scale (from its
    own VAE's config when the file has one), the DDPM schedule, no patches yet."""
    d = source.detection
    latent_scale = (
        float(source.config("vae").get("scaling_factor", 0.18215))
        if d.has_vae
        else (float(load_config(d.family, "vae")["scaling_factor"]))
    )
    return {
        "family": d.family,
        "prediction_type": prediction_type(source, prediction),
        "inpaint": d.inpaint,
        "latent_scale": latent_scale,
        "schedule": dict(SCHEDULE),
        "patches": (),
    }


def load_unet(
    path: Path, store: ModelStore, devices: DevicePolicy, weight_dtype: str = "default"
) -> Model:
    """An SD/SDXL UNet alone (Load Diffusion Model; also the UNet of a whole checkpoint).
    In fp8 its weights stay fp8 and each layer computes in the device's dtype."""
    source = Source(path)

    def build() -> UNet2DConditionModel:
        storage = WEIGHT_DTYPES[weight_dtype]
        unet: UNet2DConditionModel = store_weights_in(
            build_unet(source, devices), storage, devices.dtype
        )
        return unet

    key = ModelKey("diffusion_model", str(path), path_fingerprint(path), weight_dtype)
    model = Model(store.handle(key, build), model_config(source, "auto"))
    model.handle.get()
    return model


def load_checkpoint(
    path: Path, store: ModelStore, devices: DevicePolicy, prediction: str = "auto"
) -> tuple[Model, Clip, Vae]:
    source = Source(path)
    d = source.detection
    fingerprint = path_fingerprint(path)

    def key(part: str) -> ModelKey:
        return ModelKey("checkpoint", str(path), fingerprint, part)

    model = Model(
        store.handle(key("unet"), lambda: build_unet(source, devices)),
        model_config(source, prediction),
    )
    clip = Clip(
        store.handle(key("clip"), lambda: build_text_encoders(source, devices)),
        {"family": d.family, "layer": None, "patches": ()},
    )
    vae = Vae(store.handle(key("vae"), lambda: build_vae(source, devices)), {"family": d.family})
    model.handle.get()  # load now, so a broken file fails here and the time shows here
    if d.has_text_encoders:
        clip.handle.get()
    if d.has_vae:
        vae.handle.get()
    return model, clip, vae
