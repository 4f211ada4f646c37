"""Standalone VAE and ControlNet files (the Load VAE and Load ControlNet nodes): their
layout and family from the keys, their config from the file's metadata or the family's
published one."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, ControlNetModel

from engine.device import DevicePolicy
from engine.model_store import ModelKey, ModelStore, file_fingerprint
from engine.types import ControlNet, Vae
from nodes.ops.families.sd import layout as L
from nodes.ops.families.sd.detect import detect_controlnet
from nodes.ops.families.sd.loading import Source
from nodes.ops.families.sd.shipped_configs import load_config
from nodes.ops.weights.build import META, fill_model, held_dtype, place, read_for
from nodes.ops.weights.checkpoint_io import (
    CheckpointError,
    read_shapes,
    stored_float_dtype,
)


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

    def tensors(
        self, component: str, dtype: torch.dtype | None = None, devices: DevicePolicy | None = None
    ) -> dict[str, torch.Tensor]:
        return read_for(self.path, self._mine, dtype, devices)

    def stored(self) -> torch.dtype | None:
        return stored_float_dtype(self.path, self._mine)

    def _mine(self, names: list[str]) -> list[str]:
        return [k for k in names if k.startswith(self.prefix)]


def load_vae(path: Path, store: ModelStore, devices: DevicePolicy) -> Vae:
    source = _VaeFile(path)

    def build() -> AutoencoderKL:
        config = source.config("vae")
        with torch.device("meta"):
            vae = AutoencoderKL.from_config(config)
        # A VAE alone may be SDXL's, which overflows in float16 (bfloat16 has the range).
        compute = devices.overflow_safe_dtype if devices.dtype == torch.float16 else devices.dtype
        held = held_dtype(source.stored(), compute, devices)
        # converted as read: no second copy held
        tensors = source.tensors("vae", held, devices)
        fill_model(vae, L.vae_from_ldm(tensors, config, source.prefix), "VAE", path)
        return place(vae, devices, compute, held)

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
        # Converted as read, onto the device (a pickle is read whole, then converted).
        held = held_dtype(stored_float_dtype(path, list), devices.dtype, devices)
        state = read_for(path, list, held, devices)
        if found.layout == "ldm":
            state = L.controlnet_from_ldm(state, cfg, found.prefix)
        fill_model(model, state, "ControlNet", path)
        return place(model, devices, held=held)

    handle = store.handle(ModelKey("controlnet", str(path), file_fingerprint(path)), build)
    handle.get()
    return ControlNet(handle, {"family": found.family})
