"""UNet and ControlNet weights: diffusers names <-> original (LDM/SGM) names.

The reverse direction (diffusers -> original) is built here from the diffusers config, as a
module-path map; the forward direction wraps diffusers' own single-file converters so that
what we write is exactly what diffusers (and the tools that share its layout) read back.
Conversion only renames keys: tensors are shared with the input, never copied, and meta
tensors work, so a map of shapes can be converted without allocating weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from diffusers.loaders.single_file_utils import (
    convert_controlnet_checkpoint,
    convert_ldm_unet_checkpoint,
)

UNET_PREFIX = "model.diffusion_model."
CONTROLNET_PREFIX = "control_model."

StateDict = dict[str, torch.Tensor]
Config = Mapping[str, Any]

# ResnetBlock2D child -> ResBlock child in the original code.
_RESNET_CHILDREN = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_ATTENTION_LEAVES = ("to_q", "to_k", "to_v", "to_out.0")
_BLOCK_LEAVES = ("norm1", "norm2", "norm3", "ff.net.0.proj", "ff.net.2")


def translate(path: str, module_map: Mapping[str, str]) -> str:
    """Rename a module path or parameter key by its longest mapped module prefix."""
    head, tail = path, ""
    while head:
        if head in module_map:
            return module_map[head] + tail
        head, dot, last = head.rpartition(".")
        tail = dot + last + tail
    raise KeyError(f"no counterpart for {path!r} in this layout (does the config match?)")


def invert(module_map: Mapping[str, str]) -> dict[str, str]:
    """The original -> diffusers direction of a module map."""
    return {v: k for k, v in module_map.items()}


def _per_block(value: Any, n: int) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value] * n


def _depth(per_block: Any, layer: int) -> int:
    # transformer_layers_per_block entries may themselves be per-layer lists.
    return int(per_block[layer] if isinstance(per_block, list | tuple) else per_block)


class _Builder:
    def __init__(self) -> None:
        self.map: dict[str, str] = {}

    def leaf(self, ours: str, theirs: str) -> None:
        self.map[ours] = theirs

    def resnet(self, ours: str, theirs: str, in_ch: int, out_ch: int) -> None:
        self.map[ours] = theirs
        for child, original in _RESNET_CHILDREN.items():
            if child != "conv_shortcut" or in_ch != out_ch:
                self.map[f"{ours}.{child}"] = f"{theirs}.{original}"

    def attention(self, ours: str, theirs: str, depth: int) -> None:
        # SpatialTransformer children carry the same names on both sides.
        self.map[ours] = theirs
        leaves = ["norm", "proj_in", "proj_out"]
        for t in range(depth):
            leaves += [f"transformer_blocks.{t}.{n}" for n in _BLOCK_LEAVES]
            leaves += [
                f"transformer_blocks.{t}.{a}.{n}"
                for a in ("attn1", "attn2")
                for n in _ATTENTION_LEAVES
            ]
        for leaf in leaves:
            self.map[f"{ours}.{leaf}"] = f"{theirs}.{leaf}"


def _embeddings(config: Config, b: _Builder) -> None:
    b.leaf("time_embedding.linear_1", "time_embed.0")
    b.leaf("time_embedding.linear_2", "time_embed.2")
    # SDXL's size/pooled-text embedding and class embeddings are both `label_emb` originally.
    if config.get("addition_embed_type") == "text_time":
        b.leaf("add_embedding.linear_1", "label_emb.0.0")
        b.leaf("add_embedding.linear_2", "label_emb.0.2")
    elif config.get("class_embed_type") in ("timestep", "projection"):
        b.leaf("class_embedding.linear_1", "label_emb.0.0")
        b.leaf("class_embedding.linear_2", "label_emb.0.2")
    b.leaf("conv_in", "input_blocks.0.0")


def _down_and_mid(config: Config, b: _Builder) -> list[int]:
    """Map the encoder half and the middle block; return the skip channels, in order."""
    channels = list(config["block_out_channels"])
    types = list(config["down_block_types"])
    layers = _per_block(config["layers_per_block"], len(types))
    depths = _per_block(config.get("transformer_layers_per_block", 1), len(types))
    ch = channels[0]
    skips = [ch]
    n = 1
    for i, block_type in enumerate(types):
        for j in range(layers[i]):
            b.resnet(f"down_blocks.{i}.resnets.{j}", f"input_blocks.{n}.0", ch, channels[i])
            ch = channels[i]
            if "CrossAttn" in block_type:
                b.attention(
                    f"down_blocks.{i}.attentions.{j}", f"input_blocks.{n}.1", _depth(depths[i], j)
                )
            skips.append(ch)
            n += 1
        if i < len(types) - 1:
            b.leaf(f"down_blocks.{i}.downsamplers.0.conv", f"input_blocks.{n}.0.op")
            skips.append(ch)
            n += 1
    mid_type = config.get("mid_block_type", "UNetMidBlock2DCrossAttn")
    if mid_type != "UNetMidBlock2DCrossAttn":
        raise ValueError(f"mid_block_type {mid_type!r} has no original-layout mapping here")
    b.resnet("mid_block.resnets.0", "middle_block.0", ch, ch)
    b.attention("mid_block.attentions.0", "middle_block.1", _depth(depths[-1], 0))
    b.resnet("mid_block.resnets.1", "middle_block.2", ch, ch)
    return skips


def unet_module_map(config: Config) -> dict[str, str]:
    """Every UNet module path (blocks and weight-holding leaves) -> its original path.

    Paths have no file prefix (`UNET_PREFIX`). Kohya LoRA names are these paths with dots
    turned into underscores: SD1 LoRAs use the diffusers side, SDXL LoRAs the original side.
    """
    b = _Builder()
    _embeddings(config, b)
    skips = _down_and_mid(config, b)
    channels = list(reversed(config["block_out_channels"]))
    types = list(config["up_block_types"])
    layers = list(reversed(_per_block(config["layers_per_block"], len(types))))
    down_depths = _per_block(config.get("transformer_layers_per_block", 1), len(types))
    depths = config.get("reverse_transformer_layers_per_block") or list(reversed(down_depths))
    ch = channels[0]
    n = 0
    for i, block_type in enumerate(types):
        for j in range(layers[i] + 1):
            skip = skips.pop()
            b.resnet(f"up_blocks.{i}.resnets.{j}", f"output_blocks.{n}.0", ch + skip, channels[i])
            ch = channels[i]
            attn = "CrossAttn" in block_type
            if attn:
                b.attention(
                    f"up_blocks.{i}.attentions.{j}", f"output_blocks.{n}.1", _depth(depths[i], j)
                )
            if i < len(types) - 1 and j == layers[i]:
                # The upsampler follows the attention when there is one.
                b.leaf(
                    f"up_blocks.{i}.upsamplers.0.conv", f"output_blocks.{n}.{2 if attn else 1}.conv"
                )
            n += 1
    b.leaf("conv_norm_out", "out.0")
    b.leaf("conv_out", "out.2")
    return b.map


def controlnet_module_map(config: Config) -> dict[str, str]:
    """ControlNetModel module paths -> original `control_model.` paths (without the prefix)."""
    b = _Builder()
    _embeddings(config, b)
    skips = _down_and_mid(config, b)
    for i in range(len(skips)):
        b.leaf(f"controlnet_down_blocks.{i}", f"zero_convs.{i}.0")
    b.leaf("controlnet_mid_block", "middle_block_out.0")
    # Original hint block: conv, SiLU, conv, SiLU, ...: convs sit at the even indices.
    b.leaf("controlnet_cond_embedding.conv_in", "input_hint_block.0")
    hint_blocks = 2 * (
        len(config.get("conditioning_embedding_out_channels", (16, 32, 96, 256))) - 1
    )
    for k in range(hint_blocks):
        b.leaf(f"controlnet_cond_embedding.blocks.{k}", f"input_hint_block.{2 * k + 2}")
    b.leaf("controlnet_cond_embedding.conv_out", f"input_hint_block.{2 * hint_blocks + 2}")
    return b.map


def _rename(
    sd: Mapping[str, torch.Tensor], module_map: Mapping[str, str], prefix: str
) -> StateDict:
    return {prefix + translate(key, module_map): value for key, value in sd.items()}


def _strip(ldm_sd: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    return {k[len(prefix) :]: v for k, v in ldm_sd.items() if k.startswith(prefix)}


def unet_to_ldm(
    sd: Mapping[str, torch.Tensor], config: Config, prefix: str = UNET_PREFIX
) -> StateDict:
    """A UNet2DConditionModel state dict in the original layout, keys under `prefix`."""
    return _rename(sd, unet_module_map(config), prefix)


def unet_from_ldm(
    ldm_sd: Mapping[str, torch.Tensor], config: Config, prefix: str = UNET_PREFIX
) -> StateDict:
    """The UNet of an original-layout state dict (other keys are ignored), diffusers names."""
    if prefix != UNET_PREFIX:
        ldm_sd = {UNET_PREFIX + k: v for k, v in _strip(ldm_sd, prefix).items()}
    return dict(convert_ldm_unet_checkpoint(dict(ldm_sd), dict(config)))


def controlnet_to_ldm(
    sd: Mapping[str, torch.Tensor], config: Config, prefix: str = CONTROLNET_PREFIX
) -> StateDict:
    """A ControlNetModel state dict in the original layout, keys under `prefix`."""
    return _rename(sd, controlnet_module_map(config), prefix)


def controlnet_from_ldm(
    ldm_sd: Mapping[str, torch.Tensor], config: Config, prefix: str = CONTROLNET_PREFIX
) -> StateDict:
    """The ControlNet of an original-layout state dict; files without the prefix work too."""
    sd = _strip(ldm_sd, prefix) if any(k.startswith(prefix) for k in ldm_sd) else dict(ldm_sd)
    # diffusers' helper assumes the hint block's last conv is number 14 and leaves SDXL's
    # label_emb behind, so those two parts are mapped here from our own module map.
    ours = invert(controlnet_module_map(config))
    own = {k: sd.pop(k) for k in list(sd) if k.startswith(("input_hint_block.", "label_emb."))}
    out = dict(convert_controlnet_checkpoint(sd, dict(config)))
    out.update(_rename(own, ours, ""))
    return out
