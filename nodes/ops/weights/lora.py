"""LoRA files (kohya/A1111 and diffusers/PEFT naming) applied to loaded models.

A LoRA adds low-rank updates W += strength * alpha / rank * (up @ down). We apply them in
place just around their use (sampling, encoding) and restore the original weights after,
so the base model in the store stays clean and shared, and only the touched weights are
copied.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

SUFFIXES = {
    ".lora_down.weight": "down",
    ".lora_up.weight": "up",
    ".alpha": "alpha",
    ".lora_A.weight": "down",
    ".lora_B.weight": "up",
}
PEFT_PREFIXES = {
    "unet.": "lora_unet_",
    "transformer.": "lora_unet_",  # diffusers' Flux (and other transformer) LoRAs
    "diffusion_model.": "lora_unet_",  # BFL-named Flux layers with lora_A/lora_B
    "text_encoder.": "lora_te1_",
    "text_encoder_2.": "lora_te2_",
}


@dataclass(frozen=True)
class LoraPatch:
    """A LoRA file at a strength: what a Load LoRA node adds to a model's config."""

    path: str
    fingerprint: str
    strength: float


@dataclass
class LoraLayer:
    down: torch.Tensor
    up: torch.Tensor
    alpha: float | None = None

    def fits(self, shape: torch.Size) -> bool:
        """Whether this update has the shape of a weight of `shape` (conv or linear)."""
        return self.up.shape[0] == shape[0] and self.down.flatten(1).shape[1] == shape[1:].numel()

    def delta(self, shape: torch.Size, strength: float) -> torch.Tensor:
        rank = self.down.shape[0]
        scale = strength * (self.alpha if self.alpha is not None else rank) / rank
        product = self.up.flatten(1).float() @ self.down.flatten(1).float()
        return (product * scale).reshape(shape)


def parse_lora(state: Mapping[str, torch.Tensor]) -> dict[str, LoraLayer]:
    """Group a LoRA file's tensors by layer, under kohya-style flat names."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        for suffix, role in SUFFIXES.items():
            if key.endswith(suffix):
                parts.setdefault(_flat_name(key[: -len(suffix)]), {})[role] = tensor
                break
    layers = {}
    for name, p in parts.items():
        if "down" in p and "up" in p:
            alpha = float(p["alpha"]) if "alpha" in p else None
            layers[name] = LoraLayer(p["down"], p["up"], alpha)
    return layers


def _flat_name(base: str) -> str:
    for prefix, flat in PEFT_PREFIXES.items():
        if base.startswith(prefix):
            return flat + base[len(prefix) :].replace(".", "_")
    return base


def targets(module: Any, prefix: str, aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    """Flat LoRA names -> weight parameter names of `module`. `aliases` maps a module
    path to another name it is known by (the original LDM path of a diffusers layer)."""
    found = {}
    for path, child in module.named_modules():
        if isinstance(child, torch.nn.Linear | torch.nn.Conv2d):
            found[prefix + path.replace(".", "_")] = f"{path}.weight"
            alias = (aliases or {}).get(path)
            if alias:
                found[prefix + alias.replace(".", "_")] = f"{path}.weight"
    return found


def matching(
    layers: Mapping[str, LoraLayer], names: Mapping[str, str], module: Any
) -> tuple[set[str], set[str]]:
    """(LoRA layers that fit a weight of `module`, those named like one but misshapen)."""
    params = dict(module.named_parameters())
    fit: set[str] = set()
    misfit: set[str] = set()
    for name, layer in layers.items():
        if name in names:
            (fit if layer.fits(params[names[name]].shape) else misfit).add(name)
    return fit, misfit


def deltas(
    layers: Mapping[str, LoraLayer],
    names: Mapping[str, str],
    module: Any,
    strength: float,
) -> dict[str, torch.Tensor]:
    """Weight updates for the layers of `module` this LoRA touches."""
    params = dict(module.named_parameters())
    out: dict[str, torch.Tensor] = {}
    for name, layer in layers.items():
        param_name = names.get(name)
        if param_name is None:
            continue
        weight = params[param_name]
        if not layer.fits(weight.shape):
            raise ValueError(
                f"LoRA layer {name} has the wrong shape for this model's "
                f"{param_name} {tuple(weight.shape)}: made for another model?"
            )
        update = layer.delta(weight.shape, strength).to(weight.device, weight.dtype)
        out[param_name] = out[param_name] + update if param_name in out else update
    return out


@contextmanager
def patched(module: Any, updates: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """Add `updates` to the module's weights for the duration of the block."""
    if not updates:
        yield
        return
    params = dict(module.named_parameters())
    saved = {name: params[name].detach().clone() for name in updates}
    try:
        with torch.no_grad():
            for name, update in updates.items():
                params[name].add_(update)
        yield
    finally:
        with torch.no_grad():
            for name, original in saved.items():
                params[name].copy_(original)
