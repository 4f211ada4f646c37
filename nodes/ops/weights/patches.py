"""Using a loaded model with its LoRAs: fetch it from the store, patch it in place for the
duration of the work, restore it after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from engine.model_store import ModelKey, ModelStore
from engine.types import Clip, Model
from nodes.ops.families.sd.layout import unet_module_map
from nodes.ops.text.encoding import TextEncoder, TextEncoders
from nodes.ops.weights.checkpoint_io import read_state_dict
from nodes.ops.weights.lora import LoraLayer, LoraPatch, deltas, parse_lora, patched, targets


def lora_layers(store: ModelStore, patch: LoraPatch) -> dict[str, LoraLayer]:
    """A LoRA file's layers, parsed once and kept by the model store."""
    key = ModelKey("lora", patch.path, patch.fingerprint)
    layers: dict[str, LoraLayer] = store.get(
        key, lambda: parse_lora(read_state_dict(patch.path)[0])
    )
    return layers


def unet_names(unet: Any) -> dict[str, str]:
    """LoRA names of the UNet's layers, by diffusers path and by original (LDM) path."""
    aliases = unet_module_map(dict(unet.config))
    return targets(unet, "lora_unet_", aliases)


def encoder_prefixes(family: str, encoder: TextEncoder) -> list[str]:
    if family == "sdxl":
        return ["lora_te1_"] if encoder.name == "clip_l" else ["lora_te2_"]
    return ["lora_te_", "lora_te1_"]


def encoder_names(family: str, encoder: TextEncoder) -> dict[str, str]:
    """LoRA names of a text encoder's layers. LoRA files name them as in the HF model with
    its `text_model.` wrapper, which transformers 5's CLIPTextModel no longer has."""
    model = encoder.model
    wrapped = hasattr(model, "text_model")
    aliases = {} if wrapped else {p: f"text_model.{p}" for p, _ in model.named_modules() if p}
    names: dict[str, str] = {}
    for prefix in encoder_prefixes(family, encoder):
        names.update(targets(model, prefix, aliases))
    return names


def _merge(into: dict[str, torch.Tensor], more: dict[str, torch.Tensor]) -> None:
    for name, update in more.items():
        into[name] = into[name] + update if name in into else update


def unet_updates(model: Model, unet: Any, store: ModelStore) -> dict[str, torch.Tensor]:
    updates: dict[str, torch.Tensor] = {}
    patches = model.config.get("patches", ())
    names = unet_names(unet) if patches else {}
    for patch in patches:
        _merge(updates, deltas(lora_layers(store, patch), names, unet, patch.strength))
    return updates


def encoder_updates(
    clip: Clip, encoders: TextEncoders, store: ModelStore
) -> list[dict[str, torch.Tensor]]:
    per_encoder: list[dict[str, torch.Tensor]] = [{} for _ in encoders.encoders]
    for patch in clip.config.get("patches", ()):
        layers = lora_layers(store, patch)
        for updates, encoder in zip(per_encoder, encoders.encoders, strict=True):
            names = encoder_names(encoders.family, encoder)
            _merge(updates, deltas(layers, names, encoder.model, patch.strength))
    return per_encoder


@contextmanager
def unet_in_use(model: Model, store: ModelStore) -> Iterator[Any]:
    unet = model.handle.get()
    with patched(unet, unet_updates(model, unet, store)):
        yield unet


@contextmanager
def clip_in_use(clip: Clip, store: ModelStore) -> Iterator[TextEncoders]:
    encoders: TextEncoders = clip.handle.get()
    updates = encoder_updates(clip, encoders, store)
    with _all_patched([(e.model, u) for e, u in zip(encoders.encoders, updates, strict=True)]):
        yield encoders


@contextmanager
def _all_patched(pairs: list[tuple[Any, dict[str, torch.Tensor]]]) -> Iterator[None]:
    if not pairs:
        yield
        return
    (module, updates), rest = pairs[0], pairs[1:]
    with patched(module, updates), _all_patched(rest):
        yield
