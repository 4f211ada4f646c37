"""Loading checkpoints, VAEs, ControlNets and LoRAs into the model store.

A checkpoint's family is detected from its keys and shapes (header only); each component
(UNet, text encoders, VAE) is then a separate store entry that reads just its own keys,
converts them with diffusers' helpers and fills a model built from a config: the one the
file carries (written by our Save Checkpoint) or the published one shipped in configs/.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from engine.device import DevicePolicy
from engine.model_store import ModelKey, ModelStore, file_fingerprint
from engine.types import Clip, ControlNet, Model, Vae
from nodes.ops.families.sd import layout as L
from nodes.ops.families.sd.detect import (
    detect,
    detect_controlnet,
    detect_folder,
    load_config,
)
from nodes.ops.text.encoding import TextEncoder, TextEncoders
from nodes.ops.weights.checkpoint_io import (
    CheckpointError,
    read_shapes,
    read_state_dict,
    read_tensors,
)
from nodes.ops.weights.lora import LoraPatch, matching
from nodes.ops.weights.patches import encoder_names, lora_layers, unet_names

META = "diffgraph."  # our keys in a safetensors file's metadata
SCHEDULE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
ROLES = {  # text encoder component -> (name, pad, pooled) per family
    "sd1": {"text_encoder": ("clip_l", "eos", False)},
    "sd2": {"text_encoder": ("clip_h", "zero", False)},
    "sdxl": {"text_encoder": ("clip_l", "eos", False), "text_encoder_2": ("clip_g", "zero", True)},
    "sdxl_refiner": {"text_encoder_2": ("clip_g", "zero", True)},
}


def path_fingerprint(path: Path) -> str:
    if path.is_dir():
        return ";".join(
            f"{p.relative_to(path)}:{file_fingerprint(p)}"
            for p in sorted(path.rglob("*"))
            if p.is_file()
        )
    return file_fingerprint(path)


def sidecar_metadata(path: Path) -> dict[str, str]:
    """`name.json` beside a weight file: our metadata keys for files that cannot carry
    them (pickled checkpoints), e.g. {"diffgraph.prediction_type": "v_prediction"}."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(sidecar, f"not a readable JSON object ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(sidecar, "expected a JSON object of metadata keys")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


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

    def tensors(self, component: str) -> dict[str, torch.Tensor]:
        """The component's tensors in the file's own layout and names."""
        return read_tensors(self.path, lambda keys: self.detection.keys_of(component, keys))


def _fill(model: Any, state: dict[str, torch.Tensor], what: str, path: Path) -> Any:
    """Put the file's tensors into a model built on the meta device (no second copy)."""
    try:
        missing, _ = model.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as exc:  # shapes that do not fit the config
        first = str(exc).split("\n\t")[1] if "\n\t" in str(exc) else str(exc)
        raise CheckpointError(
            path,
            f"the {what} weights do not fit its architecture "
            f"(a config is needed for this model): {first.strip()}",
        ) from None
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing:
        raise CheckpointError(
            path,
            f"the {what} is missing {len(missing)} weights, e.g. "
            f"{missing[0]!r}: not the model its keys suggest",
        )
    for module in model.modules():  # buffers no file carries: CLIP's position ids
        for name, buffer in list(module._buffers.items()):
            if buffer is not None and buffer.is_meta:
                if name != "position_ids":
                    raise CheckpointError(path, f"the {what} has no value for buffer {name!r}")
                module._buffers[name] = torch.arange(buffer.shape[-1]).expand(buffer.shape)
    return model


def _place(model: Any, devices: DevicePolicy, dtype: torch.dtype | None = None) -> Any:
    return model.to(devices.device, dtype or devices.dtype).eval().requires_grad_(False)


def build_unet(source: Source, devices: DevicePolicy) -> UNet2DConditionModel:
    config = source.config("unet")
    if source.detection.layout == "diffusers":
        unet = UNet2DConditionModel.from_pretrained(source.path, subfolder="unet")
    else:
        with torch.device("meta"):
            unet = UNet2DConditionModel.from_config(config)
        state = L.unet_from_ldm(source.tensors("unet"), config, source.detection.unet_prefix)
        _fill(unet, state, "UNet", source.path)
    return _place(unet, devices)


def build_vae(source: Source, devices: DevicePolicy, prefix: str | None = None) -> AutoencoderKL:
    if source.detection.layout == "diffusers":
        vae = AutoencoderKL.from_pretrained(source.path, subfolder="vae")
    else:
        config = source.config("vae")
        with torch.device("meta"):
            vae = AutoencoderKL.from_config(config)
        tensors = source.tensors("vae")
        state = L.vae_from_ldm(tensors, config, source.detection.vae_prefix or "")
        _fill(vae, state, "VAE", source.path)
    # Half-precision VAEs overflow for some families (SDXL): those run in float32.
    upcast = bool(getattr(vae.config, "force_upcast", False))
    return _place(vae, devices, torch.float32 if upcast else None)


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
        if d.layout == "diffusers":
            cls = CLIPTextModelWithProjection if pooled else CLIPTextModel
            model = cls.from_pretrained(source.path / slot.component)
        else:
            config = source.config(slot.component)
            with torch.device("meta"):
                model = _text_model(config, pooled)
            convert = L.clip_from_ldm if slot.style == "clip" else L.open_clip_from_ldm
            state = convert(source.tensors(slot.component), model, slot.prefix)
            _fill(model, state, f"text encoder {slot.component}", source.path)
        layers = int(model.config.num_hidden_layers)
        # SD1 reads the last layer; SD2 the 23rd of OpenCLIP's 24 (a 23-layer diffusers
        # copy ends there); SDXL the penultimate of both, without the final norm.
        layer = -1 if d.family == "sd1" or (d.family == "sd2" and layers == 23) else -2
        final_norm = d.family in ("sd1", "sd2")
        encoders.append(TextEncoder(name, _place(model, devices), pad, layer, final_norm, pooled))  # type: ignore[arg-type]
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


def load_checkpoint(
    path: Path, store: ModelStore, devices: DevicePolicy, prediction: str = "auto"
) -> tuple[Model, Clip, Vae]:
    source = Source(path)
    d = source.detection
    fingerprint = path_fingerprint(path)

    def key(part: str) -> ModelKey:
        return ModelKey("checkpoint", str(path), fingerprint, part)

    latent_scale = (
        float(source.config("vae").get("scaling_factor", 0.18215))
        if d.has_vae
        else (float(load_config(d.family, "vae")["scaling_factor"]))
    )
    model = Model(
        store.handle(key("unet"), lambda: build_unet(source, devices)),
        {
            "family": d.family,
            "prediction_type": prediction_type(source, prediction),
            "inpaint": d.inpaint,
            "latent_scale": latent_scale,
            "schedule": dict(SCHEDULE),
            "patches": (),
        },
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


class _VaeFile(Source):
    """A standalone VAE file (keys with or without the checkpoint's prefix)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        shapes, self.metadata = read_shapes(path)
        prefix = L.VAE_PREFIX if any(k.startswith(L.VAE_PREFIX) for k in shapes) else ""
        if f"{prefix}decoder.conv_in.weight" not in shapes:
            raise CheckpointError(path, "not a VAE: expected keys like 'decoder.conv_in.weight'")
        self.prefix = prefix

    def config(self, component: str) -> dict[str, Any]:
        embedded = self.metadata.get(f"{META}vae_config")
        return dict(json.loads(embedded)) if embedded else load_config("sd1", "vae")

    def tensors(self, component: str) -> dict[str, torch.Tensor]:
        return read_tensors(self.path, lambda keys: [k for k in keys if k.startswith(self.prefix)])


def load_vae(path: Path, store: ModelStore, devices: DevicePolicy) -> Vae:
    source = _VaeFile(path)

    def build() -> AutoencoderKL:
        config = source.config("vae")
        with torch.device("meta"):
            vae = AutoencoderKL.from_config(config)
        _fill(vae, L.vae_from_ldm(source.tensors("vae"), config, source.prefix), "VAE", path)
        return _place(vae, devices, torch.float32)

    handle = store.handle(ModelKey("vae", str(path), file_fingerprint(path)), build)
    handle.get()
    return Vae(handle, {})


def load_controlnet(path: Path, store: ModelStore, devices: DevicePolicy) -> ControlNet:
    shapes, metadata = read_shapes(path)
    found = detect_controlnet(shapes)

    def config() -> dict[str, Any]:
        if f"{META}controlnet_config" in metadata:
            return dict(json.loads(metadata[f"{META}controlnet_config"]))
        if found.family == "sd1":
            return load_config("sd1", "controlnet")
        # No ControlNet config is published in our configs for SD2/SDXL: its encoder half
        # is the family's UNet, so take the UNet's settings that ControlNetModel accepts.
        unet = load_config(found.family, "unet")
        allowed = set(inspect.signature(ControlNetModel.__init__).parameters)
        return {k: v for k, v in unet.items() if k in allowed}

    def build() -> ControlNetModel:
        cfg = config()
        with torch.device("meta"):
            model = ControlNetModel.from_config(cfg)
        state, _ = read_state_dict(path)
        if found.layout == "ldm":
            state = L.controlnet_from_ldm(state, cfg, found.prefix)
        _fill(model, state, "ControlNet", path)
        return _place(model, devices)

    handle = store.handle(ModelKey("controlnet", str(path), file_fingerprint(path)), build)
    handle.get()
    return ControlNet(handle, {"family": found.family})


def add_lora(
    path: Path,
    model: Model,
    clip: Clip,
    strength_model: float,
    strength_clip: float,
    store: ModelStore,
) -> tuple[Model, Clip]:
    fingerprint = file_fingerprint(path)
    layers = lora_layers(store, LoraPatch(str(path), fingerprint, 1.0))
    if not layers:
        raise CheckpointError(path, "not a LoRA: no '*.lora_down.weight'/'*.lora_A.weight' keys")
    unet_hits, unet_misfits = matching(layers, unet_names(model.handle.get()), model.handle.get())
    encoders: TextEncoders = clip.handle.get()
    clip_hits: set[str] = set()
    clip_misfits: set[str] = set()
    for encoder in encoders.encoders:
        fit, misfit = matching(layers, encoder_names(encoders.family, encoder), encoder.model)
        clip_hits |= fit
        clip_misfits |= misfit
    family = model.config.get("family")
    if unet_misfits or clip_misfits:
        bad = sorted(unet_misfits | clip_misfits)[0]
        raise CheckpointError(
            path,
            f"this LoRA does not fit this {family} model (layer {bad} "
            "has another shape): is it made for another model family?",
        )
    if not unet_hits and not clip_hits:
        raise CheckpointError(
            path,
            f"this LoRA matches no layer of this {family} model "
            "(is it made for another model family?)",
        )
    if strength_model != 0 and unet_hits:
        patch = LoraPatch(str(path), fingerprint, strength_model)
        model = Model(
            model.handle, {**model.config, "patches": (*model.config.get("patches", ()), patch)}
        )
    if strength_clip != 0 and clip_hits:
        patch = LoraPatch(str(path), fingerprint, strength_clip)
        clip = Clip(
            clip.handle, {**clip.config, "patches": (*clip.config.get("patches", ()), patch)}
        )
    return model, clip
