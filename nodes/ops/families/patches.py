"""Models with their LoRAs, whatever the family: adding a LoRA file to a model and its text
encoders (checked against their shapes), and using a model patched in place for the
duration of the work. Which layer a LoRA's names mean is the family's business
(`Family.lora`: kohya/A1111 and diffusers/PEFT names, Flux's fused BFL layers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

import torch

from engine.model_store import ModelKey, ModelStore, file_fingerprint
from engine.types import Clip, Model
from nodes.ops.families.registry import family_of
from nodes.ops.text.encoding import TextEncoder, TextEncoders
from nodes.ops.weights.checkpoint_io import CheckpointError, read_state_dict
from nodes.ops.weights.lora import (
    LoraLayer,
    LoraPatch,
    deltas,
    matching,
    parse_lora,
    patched,
    targets,
)
from nodes.ops.weights.merge import MergePatch, blended


def lora_layers(store: ModelStore, patch: LoraPatch) -> dict[str, LoraLayer]:
    """A LoRA file's layers, parsed once and kept by the model store."""
    key = ModelKey("lora", patch.path, patch.fingerprint)
    layers: dict[str, LoraLayer] = store.get(
        key, lambda: parse_lora(read_state_dict(patch.path)[0])
    )
    return layers


def network_lora(
    model: Model, network: Any, layers: dict[str, LoraLayer]
) -> tuple[dict[str, str], dict[str, LoraLayer]]:
    """(LoRA name -> the network's parameter, the layers in those names) for this family."""
    return family_of(model.config).lora(network, layers)


def encoder_prefixes(family: str, encoder: TextEncoder) -> list[str]:
    if family in ("sdxl", "flux"):  # the first encoder te1 (CLIP-L), the second te2
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
    for patch in model.config.get("patches", ()):
        names, layers = network_lora(model, unet, lora_layers(store, patch))
        _merge(updates, deltas(layers, names, unet, patch.strength))
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


class NetworkHook(Protocol):
    """What a model patch node (FreeU...) adds around the network's use, in config["hooks"]."""

    def applied(self, network: Any) -> AbstractContextManager[Any]: ...


@contextmanager
def unet_in_use(model: Model, store: ModelStore) -> Iterator[Any]:
    with _unet_weights(model, store) as unet, ExitStack() as hooks:
        for hook in model.config.get("hooks", ()):
            hooks.enter_context(hook.applied(unet))
        yield unet


@contextmanager
def _unet_weights(model: Any, store: ModelStore) -> Iterator[Any]:
    """The network computing with this model's weights: its merge and LoRAs applied."""
    merge: MergePatch | None = model.config.get("merge")
    if merge is None:
        unet = model.handle.get()
        with patched(unet, unet_updates(model, unet, store)):
            yield unet
        return
    with (
        _unet_weights(merge.first, store) as first,
        _unet_weights(merge.second, store) as second,
    ):
        _distinct(first, second)
        updates = unet_updates(model, first, store)  # LoRAs added after the merge count whole
        with (
            patched(first, updates),
            patched(second, updates),
            blended(first, second, merge.ratio),
        ):
            yield first


@contextmanager
def clip_in_use(clip: Any, store: ModelStore) -> Iterator[TextEncoders]:
    merge: MergePatch | None = clip.config.get("merge")
    if merge is None:
        encoders: TextEncoders = clip.handle.get()
        updates = encoder_updates(clip, encoders, store)
        with _all_patched([(e.model, u) for e, u in zip(encoders.encoders, updates, strict=True)]):
            yield encoders
        return
    with clip_in_use(merge.first, store) as first, clip_in_use(merge.second, store) as second:
        pairs = list(zip(first.encoders, second.encoders, strict=True))
        updates = encoder_updates(clip, first, store)
        patches = [(e.model, u) for pair, u in zip(pairs, updates, strict=True) for e in pair]
        with _all_patched(patches), ExitStack() as stack:
            for mine, other in pairs:
                _distinct(mine.model, other.model)
                stack.enter_context(blended(mine.model, other.model, merge.ratio))
            yield first


def _distinct(first: Any, second: Any) -> None:
    if first is second:  # Model Merge Simple folds a model merged with itself into LoRAs
        raise ValueError("a merge whose two sides share one network cannot be blended")


@contextmanager
def _all_patched(pairs: list[tuple[Any, dict[str, torch.Tensor]]]) -> Iterator[None]:
    if not pairs:
        yield
        return
    (module, updates), rest = pairs[0], pairs[1:]
    with patched(module, updates), _all_patched(rest):
        yield


def _swap(
    pair: tuple[dict[str, str], dict[str, LoraLayer]],
) -> tuple[dict[str, LoraLayer], dict[str, str]]:
    return pair[1], pair[0]


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
    network = model.handle.get()
    unet_hits, unet_misfits = matching(*_swap(network_lora(model, network, layers)), network)
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
