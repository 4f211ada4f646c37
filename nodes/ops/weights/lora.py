"""LoRA files applied to loaded models: plain LoRA and LoCon (`lora_lowrank`, also LyCORIS'
full `.diff` layers), LyCORIS LoHa (`lora_loha`) and LoKr (`lora_lokr`), each optionally
DoRA (`lora_dora`), under the names kohya, LyCORIS, diffusers/PEFT and ai-toolkit write
(`lora_keys`).

A layer's update is W += strength * dW (DoRA: W += strength * (W' - W)). We apply the
updates in place just around their use (sampling, encoding) and put the saved originals
back after, so the base model in the store stays clean and shared, and only the touched
weights are copied.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from nodes.ops.weights.lora_dora import dora_update, magnitude_fits
from nodes.ops.weights.lora_keys import split_key
from nodes.ops.weights.lora_loha import loha
from nodes.ops.weights.lora_lokr import lokr
from nodes.ops.weights.lora_lowrank import Diff, Full, LowRank


@dataclass(frozen=True)
class LoraPatch:
    """A LoRA file at a strength: what a Load LoRA node adds to a model's config."""

    path: str
    fingerprint: str
    strength: float


@dataclass(frozen=True)
class LoraLayer:
    """One layer's update in a LoRA file, whatever its format."""

    diff: Diff
    magnitude: torch.Tensor | None = None  # DoRA's magnitude vector

    @property
    def kind(self) -> str:
        name = {"LowRank": "LoRA", "Hadamard": "LoHa", "Kronecker": "LoKr", "Full": "full"}
        kind = name.get(type(self.diff).__name__, "LoRA")
        return f"{kind} (DoRA)" if self.magnitude is not None else kind

    def fits(self, shape: torch.Size) -> bool:
        """Whether this update has the shape of a weight of `shape` (conv or linear)."""
        rows, columns = self.diff.size()
        if len(shape) < 2 or rows != shape[0] or columns != shape[1:].numel():
            return False
        return self.magnitude is None or magnitude_fits(self.magnitude, shape)

    def update(self, weight: torch.Tensor, strength: float) -> torch.Tensor:
        """What to add to `weight` (float32, its shape) at `strength`."""
        diff = self.diff.matrix().reshape(weight.shape)
        if self.magnitude is None:
            return diff * strength
        return dora_update(weight, diff, self.magnitude, strength)

    def rows(self, index: torch.Tensor) -> LoraLayer:
        """This update for only these output rows (a fused layer split into parts)."""
        magnitude = self.magnitude
        if magnitude is not None:
            if magnitude.shape[0] != self.diff.size()[0]:
                raise ValueError(
                    "a DoRA layer normalised per input column cannot be split across "
                    "the model's separate layers"
                )
            magnitude = magnitude[index]
        return LoraLayer(self.diff.rows(index), magnitude)


@dataclass(frozen=True)
class LoraFile:
    """A LoRA file read: its layers under flat names, and the keys we could not use."""

    layers: dict[str, LoraLayer]
    unread: tuple[str, ...] = ()  # keys of no known format, or of incomplete layers
    keys: int = 0
    sources: dict[str, str] = field(default_factory=dict)  # flat name -> an original key


def _diff(parts: Mapping[str, torch.Tensor], alpha: float | None) -> Diff | None:
    if "lora_down" in parts and "lora_up" in parts:
        return LowRank(parts["lora_down"], parts["lora_up"], alpha, parts.get("lora_mid"))
    if "diff" in parts:
        return Full(parts["diff"])
    return loha(parts, alpha) or lokr(parts, alpha)


def parse_lora(state: Mapping[str, torch.Tensor]) -> LoraFile:
    """Group a LoRA file's tensors by layer (kohya-style flat names) and build each
    layer's update in the format its parts name."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    keys: dict[str, list[str]] = {}
    unread: list[str] = []
    for key, tensor in state.items():
        found = split_key(key)
        if found is None:
            unread.append(key)
            continue
        name, part = found
        parts.setdefault(name, {})[part] = tensor
        keys.setdefault(name, []).append(key)
    layers: dict[str, LoraLayer] = {}
    for name, p in parts.items():
        alpha = float(p["alpha"]) if "alpha" in p else None
        magnitude = p.get("dora_scale", p.get("magnitude"))
        diff = _diff(p, alpha)
        if diff is None:
            unread.extend(keys[name])
            continue
        layers[name] = LoraLayer(diff, magnitude)
    sources = {name: keys[name][0] for name in layers}
    return LoraFile(layers, tuple(unread), len(state), sources)


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
    so_far: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Weight updates for the layers of `module` this LoRA touches. `so_far` holds the
    updates of the LoRAs applied before this one: DoRA normalises the weight they made."""
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
        current = weight.detach()
        if layer.magnitude is not None and so_far and param_name in so_far:
            current = current.float() + so_far[param_name].float()
        update = layer.update(current, strength).to(weight.device, _update_dtype(weight))
        out[param_name] = out[param_name] + update if param_name in out else update
    return out


def _update_dtype(weight: torch.Tensor) -> torch.dtype:
    """fp8 weights (kept so by fp8 checkpoints) get float32 updates: fp8 has no addition
    and would round a small update away."""
    return torch.float32 if weight.dtype.itemsize == 1 else weight.dtype


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
                param = params[name]
                if param.dtype.itemsize == 1:  # fp8: add in float32, round once
                    param.copy_(param.float() + update.float())
                else:
                    param.add_(update)
        yield
    finally:
        with torch.no_grad():
            for name, original in saved.items():
                params[name].copy_(original)
