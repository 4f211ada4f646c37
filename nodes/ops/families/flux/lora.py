"""Flux LoRAs in the namings people publish. diffusers/PEFT names
(`transformer.transformer_blocks.0.attn.to_q`, what ai-toolkit and diffusers write) are the
model's own. kohya's names follow BFL's layers (`lora_unet_double_blocks_0_img_attn_qkv`,
and `diffusion_model.double_blocks.0.img_attn.qkv` with lora_A/B), where attention inputs
are fused: such a layer is split into one per diffusers layer by the same row rules as the
weights (`layout_transformer`): row block i of the fused update is diffusers layer i's
(for plain LoRA, up's rows with the shared down projection).
"""

from __future__ import annotations

from typing import Any

import torch

from nodes.ops.families.flux.layout_transformer import bfl_modules
from nodes.ops.weights.lora import LoraLayer, targets

PREFIX = "lora_unet_"


def _flat(path: str) -> str:
    return PREFIX + path.replace(".", "_")


def transformer_lora(
    transformer: Any, layers: dict[str, LoraLayer]
) -> tuple[dict[str, str], dict[str, LoraLayer]]:
    """(LoRA name -> transformer parameter, the layers under diffusers' names)."""
    names = targets(transformer, PREFIX)
    config = transformer.config
    hidden = int(config.num_attention_heads) * int(config.attention_head_dim)
    fused = {
        _flat(bfl): found
        for bfl, found in bfl_modules(config.num_layers, config.num_single_layers).items()
    }
    out: dict[str, LoraLayer] = {}
    for name, layer in layers.items():
        if name in fused and name not in names:
            out.update(_split(layer, *fused[name], hidden))
        else:
            out[name] = layer  # the model's own name, or one nothing matches (reported)
    return names, out


def _split(
    layer: LoraLayer, diffusers: tuple[str, ...], swap: bool, hidden: int
) -> dict[str, LoraLayer]:
    rows = torch.arange(layer.diff.size()[0])
    if swap:  # BFL's (shift, scale) rows are diffusers' (scale, shift)
        first, second = rows.chunk(2)
        rows = torch.cat([second, first])
    if len(diffusers) == 1:
        return {_flat(diffusers[0]): layer.rows(rows)}
    sizes = [hidden] * (len(diffusers) - 1)
    sizes.append(rows.numel() - sum(sizes))
    parts = rows.split(sizes)
    return {_flat(name): layer.rows(part) for name, part in zip(diffusers, parts, strict=True)}
