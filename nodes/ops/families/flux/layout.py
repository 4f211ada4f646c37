"""Flux weight layouts: diffusers/transformers names <-> the single files users have.

One place to import from; the work lives in `layout_transformer` (the transformer: BFL <->
diffusers), `layout_text` (CLIP-L and T5), `nodes.ops.weights.layout_vae` (the AE: LDM <->
diffusers, shared with SD, which handles Flux's 16 latent channels and missing quant_conv as
they are) and `config`:

    transformer_to_bfl(sd, prefix)          transformer_from_bfl(bfl_sd, prefix)
    ae_to_ldm(sd, prefix)                   ae_from_ldm(ldm_sd, config, prefix)
    clip_l_to_file(sd, prefix)              clip_l_from_file(sd, model, prefix)
    t5_to_file(sd, prefix)                  t5_from_file(sd, prefix)
    flux_config_from_shapes(shapes, override, prefix)

The text encoders keep transformers' own names in files (`layout_text`: only prefixes, CLIP's
`text_model.` level and T5's tied embedding differ).
Prefixes default to "" (the split files); all-in-one files use TRANSFORMER_PREFIX and
AE_PREFIX.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from nodes.ops.families.flux.config import (
    FLUX1_ROPE_AXES,
    TRANSFORMER_CONFIG_KEY,
    default_rope_axes,
    embedded_config,
    flux_config_from_shapes,
)
from nodes.ops.families.flux.layout_text import (
    clip_l_from_file,
    clip_l_to_file,
    t5_from_file,
    t5_to_file,
)
from nodes.ops.families.flux.layout_transformer import (
    StateDict,
    transformer_from_bfl,
    transformer_to_bfl,
)
from nodes.ops.weights.layout_vae import vae_from_ldm, vae_to_ldm

# Where each part sits in an all-in-one checkpoint (ComfyUI's layout). The text encoders are
# under `text_encoders.<name>.transformer.` in the files ComfyUI writes, `text_encoders.<name>.`
# in some others; their keys below that are transformers' own.
TRANSFORMER_PREFIX = "model.diffusion_model."
CLIP_L_PREFIXES = ("text_encoders.clip_l.transformer.", "text_encoders.clip_l.")
T5_PREFIXES = ("text_encoders.t5xxl.transformer.", "text_encoders.t5xxl.")
AE_PREFIX = "vae."

# Flux.1's AE (diffusers' AutoencoderKL arguments): SD's VAE with 16 latent channels and
# no quant convs, its latents scaled by 0.3611 after shifting by 0.1159.
AE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 16,
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "sample_size": 1024,
    "scaling_factor": 0.3611,
    "shift_factor": 0.1159,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
    "force_upcast": True,
}


def ae_to_ldm(sd: Mapping[str, torch.Tensor], prefix: str = "") -> StateDict:
    """Flux's AE (an AutoencoderKL state dict) in the LDM layout of `ae.safetensors`."""
    return vae_to_ldm(sd, prefix)


def ae_from_ldm(
    ldm_sd: Mapping[str, torch.Tensor], config: Mapping[str, Any], prefix: str = ""
) -> StateDict:
    """The AE under `prefix` (LDM layout) in diffusers' names; other keys are ignored."""
    return vae_from_ldm(ldm_sd, config, prefix)


__all__ = [
    "AE_CONFIG",
    "AE_PREFIX",
    "CLIP_L_PREFIXES",
    "FLUX1_ROPE_AXES",
    "T5_PREFIXES",
    "TRANSFORMER_CONFIG_KEY",
    "TRANSFORMER_PREFIX",
    "StateDict",
    "ae_from_ldm",
    "ae_to_ldm",
    "clip_l_from_file",
    "clip_l_to_file",
    "default_rope_axes",
    "embedded_config",
    "flux_config_from_shapes",
    "t5_from_file",
    "t5_to_file",
    "transformer_from_bfl",
    "transformer_to_bfl",
]
