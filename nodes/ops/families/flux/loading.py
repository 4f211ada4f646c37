"""Loading Flux's parts into the model store, from the layouts users have: the transformer
(a split file, an all-in-one checkpoint, a diffusers folder), CLIP-L and T5 together as one
CLIP, and the 16-channel AE. Each part is built on the meta device and filled with the file's
tensors (`weights.build`), in the precision the family wants on the device.

fp8: a transformer asked for in fp8 (or stored in fp8) keeps its weights in fp8 and computes
each layer in the compute dtype (diffusers' layerwise casting), so a 12B transformer takes
about 12 GB of accelerator memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, FluxTransformer2DModel
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

from engine.device import DevicePolicy
from engine.model_store import ModelKey, ModelStore
from engine.types import Clip, Model, Vae
from nodes.ops.families.flux import detect
from nodes.ops.families.flux.family import FLUX_LATENT, model_config
from nodes.ops.families.flux.layout import (
    ae_from_ldm,
    clip_l_from_file,
    t5_from_file,
    transformer_from_bfl,
)
from nodes.ops.families.registry import FAMILIES
from nodes.ops.text.flux_encoding import flux_encoders
from nodes.ops.weights.build import (
    WEIGHT_DTYPES,
    fill_model,
    held_dtype,
    path_fingerprint,
    place,
    read_for,
    sidecar_metadata,
    store_weights_in,
)
from nodes.ops.weights.checkpoint_io import read_shapes, stored_float_dtype
from nodes.ops.weights.interruptible import to_in_steps, watch
from nodes.ops.weights.precision import FP8


class FluxFile:
    """A single file holding Flux parts: its key -> shape map and metadata (header only),
    and the tensors of one part, read when the part is built."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shapes, self.metadata = read_shapes(path)
        self.metadata.update(sidecar_metadata(path))

    def tensors(
        self, prefix: str, dtype: torch.dtype | None = None, devices: DevicePolicy | None = None
    ) -> dict[str, torch.Tensor]:
        """The part's tensors; in `dtype` if given, converted one by one as they are read
        (casting from the memory map would keep every page of it resident)."""
        return read_for(self.path, _under(prefix), dtype, devices)

    def stored(self, prefix: str) -> torch.dtype | None:
        return stored_float_dtype(self.path, _under(prefix))


def _under(prefix: str) -> Any:
    return lambda keys: [k for k in keys if k.startswith(prefix)]


def compute_dtype(devices: DevicePolicy) -> torch.dtype:
    return devices.dtype_for(FAMILIES["flux_dev"].accelerator_dtype)


def build_transformer(
    source: FluxFile | Path, found: detect.TransformerWeights, devices: DevicePolicy, storage: str
) -> FluxTransformer2DModel:
    compute = compute_dtype(devices)
    fp8 = WEIGHT_DTYPES[storage]  # kept in fp8 when asked, or when stored so
    held = compute
    if isinstance(source, Path):  # a diffusers folder
        model = FluxTransformer2DModel.from_pretrained(source, subfolder=found.prefix)
    else:
        with torch.device("meta"):
            model = FluxTransformer2DModel(**found.config)
        stored = source.stored(found.prefix)
        fp8 = fp8 or (stored if stored in FP8 else None)
        if fp8 is None:
            held = held_dtype(stored, compute, devices)
        # fp8 weights are narrowed (or widened) on the host, then moved (store_weights_in)
        placed_for = None if fp8 else devices
        tensors = source.tensors(found.prefix, None if stored in FP8 else held, placed_for)
        if found.layout == "bfl":
            state = transformer_from_bfl(tensors, found.prefix)
        else:
            state = {k[len(found.prefix) :]: v for k, v in tensors.items()}
        fill_model(model, state, "Flux transformer", source.path)
    if fp8 is None:
        return place(model, devices, compute, held)
    model = to_in_steps(model, dtype=compute).eval().requires_grad_(False)
    return watch(to_in_steps(store_weights_in(model, fp8, compute), devices.device))


def build_clip_l(source: FluxFile | Path, found: detect.TextEncoderWeights) -> CLIPTextModel:
    if isinstance(source, Path):
        return CLIPTextModel.from_pretrained(source / found.prefix)
    with torch.device("meta"):
        model = CLIPTextModel(CLIPTextConfig(**found.config))
    state = clip_l_from_file(source.tensors(found.prefix), model, found.prefix)
    return fill_model(model, state, "CLIP-L text encoder", source.path)


def build_t5(source: FluxFile | Path, found: detect.TextEncoderWeights) -> T5EncoderModel:
    if isinstance(source, Path):
        return T5EncoderModel.from_pretrained(source / found.prefix)
    with torch.device("meta"):
        model = T5EncoderModel(T5Config(**found.config))
    state = t5_from_file(source.tensors(found.prefix), found.prefix)
    return fill_model(model, state, "T5 text encoder", source.path)


def place_t5(model: T5EncoderModel, devices: DevicePolicy) -> T5EncoderModel:
    """T5 in the compute dtype but for the modules it keeps in float32 (its feed-forward
    output, whose activations overflow half precision)."""
    place(model, devices, compute_dtype(devices))
    keep = set(getattr(model, "_keep_in_fp32_modules", None) or ())
    for name, module in model.named_modules():
        if keep & set(name.split(".")):
            module.to(torch.float32)
    return model


def build_ae(source: FluxFile | Path, found: detect.AEWeights, devices: DevicePolicy) -> Any:
    if isinstance(source, Path):
        ae = AutoencoderKL.from_pretrained(source, subfolder=found.prefix)
        return place(ae, devices, ae_dtype(ae.config, devices))
    with torch.device("meta"):
        ae = AutoencoderKL(**found.config)
    compute = ae_dtype(found.config, devices)
    held = held_dtype(source.stored(found.prefix), compute, devices)
    tensors = source.tensors(found.prefix, held, devices)
    fill_model(ae, ae_from_ldm(tensors, found.config, found.prefix), "Flux AE", source.path)
    return place(ae, devices, compute, held)


def ae_dtype(config: Any, devices: DevicePolicy) -> torch.dtype:
    """Where the AE would overflow float16: bfloat16 if the device can, else float32."""
    compute = compute_dtype(devices)
    upcast = bool(config.get("force_upcast")) and compute == torch.float16
    return devices.overflow_safe_dtype if upcast else compute


def transformer_model(key: ModelKey, store: ModelStore, build: Any, variant: str) -> Model:
    """A Model port for a transformer, loaded now (so a broken file fails here)."""
    model = Model(store.handle(key, build), model_config(guidance=variant == "dev"))
    model.handle.get()
    return model


def load_transformer(
    path: Path, store: ModelStore, devices: DevicePolicy, weight_dtype: str = "default"
) -> Model:
    """A Flux transformer file alone (models/diffusion_models/)."""
    source = FluxFile(path)
    found = detect.detect_transformer(source.shapes, source.metadata)
    key = ModelKey("diffusion_model", str(path), path_fingerprint(path), weight_dtype)
    build = lambda: build_transformer(source, found, devices, weight_dtype)  # noqa: E731
    return transformer_model(key, store, build, found.variant)


def load_text_encoders(paths: tuple[Path, Path], store: ModelStore, devices: DevicePolicy) -> Clip:
    """CLIP-L and T5 from two files, in either order (the Dual CLIP Loader's type flux)."""
    sources = [FluxFile(p) for p in paths]
    first = _text_encoder_of(sources[0])
    clip_i = 0 if first.kind == "clip_l" else 1
    clip_file, t5_file = sources[clip_i], sources[1 - clip_i]
    clip_found = detect.detect_clip_l(clip_file.shapes, clip_file.metadata)
    t5_found = detect.detect_t5(t5_file.shapes, t5_file.metadata)

    def build() -> Any:
        clip = place(build_clip_l(clip_file, clip_found), devices, compute_dtype(devices))
        return flux_encoders(clip, place_t5(build_t5(t5_file, t5_found), devices))

    prints = ";".join(path_fingerprint(p) for p in (clip_file.path, t5_file.path))
    name = f"{clip_file.path}|{t5_file.path}"
    clip = Clip(store.handle(ModelKey("text_encoders", name, prints, "flux"), build), _clip())
    clip.handle.get()
    return clip


def _text_encoder_of(source: FluxFile) -> detect.TextEncoderWeights:
    try:
        return detect.detect_clip_l(source.shapes, source.metadata)
    except ValueError:
        return detect.detect_t5(source.shapes, source.metadata)


def _clip() -> dict[str, Any]:
    return {"family": "flux", "layer": None, "patches": ()}


def load_ae(path: Path, store: ModelStore, devices: DevicePolicy) -> Vae:
    """Flux's 16-channel AE alone (models/vae/ae.safetensors)."""
    source = FluxFile(path)
    found = detect.detect_ae(source.shapes, source.metadata)
    key = ModelKey("vae", str(path), path_fingerprint(path))
    vae = Vae(store.handle(key, lambda: build_ae(source, found, devices)), _vae())
    vae.handle.get()
    return vae


def _vae() -> dict[str, Any]:
    return {"family": "flux", "latent_channels": FLUX_LATENT.channels}


def load_checkpoint(
    path: Path, store: ModelStore, devices: DevicePolicy
) -> tuple[Model, Clip, Vae]:
    """An all-in-one Flux checkpoint, or a diffusers Flux folder. Parts it lacks come back
    as handles that say so when used."""
    source: FluxFile | Path
    if path.is_dir():
        source, found = path, detect.detect_folder(path)
    else:
        file = FluxFile(path)
        source, found = file, detect.detect_checkpoint(file.shapes, file.metadata)
    fingerprint = path_fingerprint(path)

    def key(part: str) -> ModelKey:
        return ModelKey("checkpoint", str(path), fingerprint, part)

    transformer = found.transformer
    model = transformer_model(
        key("transformer"),
        store,
        lambda: build_transformer(source, transformer, devices, "default"),
        transformer.variant,
    )
    clip = Clip(store.handle(key("clip"), lambda: _encoders(source, found, path, devices)), _clip())
    vae = Vae(store.handle(key("vae"), lambda: _ae(source, found, path, devices)), _vae())
    for present, handle in ((found.clip_l and found.t5, clip.handle), (found.ae, vae.handle)):
        if present:
            handle.get()
    return model, clip, vae


def _encoders(
    source: FluxFile | Path, found: detect.FluxCheckpoint, path: Path, devices: DevicePolicy
) -> Any:
    if found.clip_l is None or found.t5 is None:
        raise ValueError(f"{path.name} has no CLIP-L and T5: load them with Dual CLIP Loader")
    clip = place(build_clip_l(source, found.clip_l), devices, compute_dtype(devices))
    return flux_encoders(clip, place_t5(build_t5(source, found.t5), devices))


def _ae(
    source: FluxFile | Path, found: detect.FluxCheckpoint, path: Path, devices: DevicePolicy
) -> Any:
    if found.ae is None:
        raise ValueError(f"{path.name} has no AE: load ae.safetensors with Load VAE")
    return build_ae(source, found.ae, devices)
