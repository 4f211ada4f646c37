"""Writing LoRA files the way trainers write them, for the tiny SD models, and reading
back what applying one does to the weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from engine.types import Clip, Model
from nodes.ops.families.patches import add_lora, clip_in_use, unet_in_use
from nodes.ops.families.sd.layout import unet_module_map
from tests.sd.conftest import port_values
from tests.sd.tiny import unet as tiny_unet

State = dict[str, torch.Tensor]
LINEAR = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"  # (32, 32)
WIDE = "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj"  # (256, 32)
CONV3 = "down_blocks.0.resnets.0.conv1"  # (32, 32, 3, 3)
CONV1 = "down_blocks.0.attentions.0.proj_in"  # SD1: (32, 32, 1, 1)


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 0.2


def kohya(path: str, family: str = "sd1") -> str:
    """kohya's flat name of a UNet layer: diffusers paths for SD1, original ones for SDXL."""
    if family.startswith("sdxl"):
        path = unet_module_map(dict(tiny_unet(family).config))[path]
    return "lora_unet_" + path.replace(".", "_")


def save(state: State, tmp_path: Path, name: str = "lora.safetensors") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def weights(module: Any) -> State:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class Applied:
    """A tiny model of `family` with one LoRA file added: its weights before, while in
    use, and after, for the UNet and each text encoder."""

    def __init__(
        self,
        family: str,
        path: Path,
        strength_model: float = 1.0,
        strength_clip: float = 1.0,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        model, clip, _, store = port_values(family)
        self.base_model, self.base_clip, self.store = model, clip, store
        self.unet_before = weights(model.handle.get())
        self.clip_before = [weights(e.model) for e in clip.handle.get().encoders]
        self.model, self.clip = add_lora(
            path, model, clip, strength_model, strength_clip, store, warn=warn
        )
        self.unet_during, self.clip_during = self._in_use(self.model, self.clip)
        self.unet_after = weights(model.handle.get())
        self.clip_after = [weights(e.model) for e in clip.handle.get().encoders]

    def _in_use(self, model: Model, clip: Clip) -> tuple[State, list[State]]:
        with unet_in_use(model, self.store) as unet:
            during = weights(unet)
        with clip_in_use(clip, self.store) as encoders:
            clip_during = [weights(e.model) for e in encoders.encoders]
        return during, clip_during

    def unet_change(self, layer: str) -> torch.Tensor:
        key = f"{layer}.weight"
        return self.unet_during[key] - self.unet_before[key]

    def clip_change(self, encoder: int, key: str) -> torch.Tensor:
        return self.clip_during[encoder][key] - self.clip_before[encoder][key]

    def changed(self) -> set[str]:
        """UNet weights the LoRA changed while in use."""
        return {k for k, v in self.unet_during.items() if not torch.equal(v, self.unet_before[k])}
