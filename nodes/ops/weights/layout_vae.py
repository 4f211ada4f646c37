"""AutoencoderKL weights: diffusers names <-> original (LDM) names, prefix `first_stage_model.`.

Two differences beyond names: the mid-block attention's q/k/v/proj_out are 1x1 convs
([C, C, 1, 1]) originally and linears ([C, C]) in diffusers, and the decoder's up blocks are
numbered from the lowest resolution in diffusers but from the highest originally.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

VAE_PREFIX = "first_stage_model."

StateDict = dict[str, torch.Tensor]

_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
_UP = re.compile(r"decoder\.up_blocks\.(\d+)\.")


def _rename(key: str, up_blocks: int) -> str:
    m = re.fullmatch(r"(encoder|decoder)\.(.+)", key)
    if m is None:  # quant_conv / post_quant_conv keep their names
        return key
    side, rest = m.groups()
    if m2 := re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest):
        i, j, tail = m2.groups()
        rest = f"down.{i}.block.{j}.{tail.replace('conv_shortcut', 'nin_shortcut')}"
    elif m2 := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.(.+)", rest):
        rest = f"down.{m2[1]}.downsample.{m2[2]}"
    elif m2 := re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest):
        i, j, tail = m2.groups()
        rest = (
            f"up.{up_blocks - 1 - int(i)}.block.{j}.{tail.replace('conv_shortcut', 'nin_shortcut')}"
        )
    elif m2 := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.(.+)", rest):
        rest = f"up.{up_blocks - 1 - int(m2[1])}.upsample.{m2[2]}"
    elif m2 := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", rest):
        rest = f"mid.block_{int(m2[1]) + 1}.{m2[2]}"
    elif m2 := re.fullmatch(r"mid_block\.attentions\.0\.(.+)\.(weight|bias)", rest):
        rest = f"mid.attn_1.{_ATTENTION[m2[1]]}.{m2[2]}"
    elif rest.startswith("conv_norm_out."):
        rest = "norm_out." + rest.removeprefix("conv_norm_out.")
    elif not rest.startswith(("conv_in.", "conv_out.")):
        raise KeyError(f"no original-layout name for VAE key {key!r}")
    return f"{side}.{rest}"


def vae_to_ldm(sd: Mapping[str, torch.Tensor], prefix: str = VAE_PREFIX) -> StateDict:
    """An AutoencoderKL state dict in the original layout, keys under `prefix`."""
    up_blocks = 1 + max((int(m[1]) for k in sd if (m := _UP.match(k))), default=-1)
    out: StateDict = {}
    for key, value in sd.items():
        new = _rename(key, up_blocks)
        if ".mid.attn_1." in new and new.endswith(".weight") and value.ndim == 2:
            value = value[:, :, None, None]  # linear -> 1x1 conv
        out[prefix + new] = value
    return out


def vae_from_ldm(
    ldm_sd: Mapping[str, torch.Tensor], config: Mapping[str, Any], prefix: str = VAE_PREFIX
) -> StateDict:
    """The VAE of an original-layout state dict; `prefix=""` for a standalone VAE file."""
    # Strip our prefix first: diffusers' helper guesses the prefix and would take every key
    # of a prefix-less file, or the wrong group when both `vae.` and ours are present.
    sd = {k[len(prefix) :]: v for k, v in ldm_sd.items() if k.startswith(prefix)}
    return dict(convert_ldm_vae_checkpoint(sd, dict(config)))
