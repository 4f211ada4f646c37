"""Stable Diffusion weight layouts: diffusers/transformers names <-> original single files.

One place to import from; the work lives in `layout_unet`, `layout_vae` and `layout_clip`.
Every `*_to_ldm` (diffusers -> original, for saving) is ours, derived from the model config;
every `*_from_ldm` (original -> diffusers, for loading) wraps diffusers' single-file helpers,
so that a round trip through both reproduces the diffusers state dict exactly.

    unet_to_ldm(sd, config, prefix)         unet_from_ldm(ldm_sd, config, prefix)
    controlnet_to_ldm(sd, config, prefix)   controlnet_from_ldm(ldm_sd, config, prefix)
    vae_to_ldm(sd, prefix)                  vae_from_ldm(ldm_sd, config, prefix)
    clip_to_ldm(sd, prefix)                 clip_from_ldm(ldm_sd, model, prefix)
    open_clip_to_ldm(sd, prefix)            open_clip_from_ldm(ldm_sd, model, prefix)

Prefixes default to the usual ones (UNET_PREFIX, VAE_PREFIX, CONTROLNET_PREFIX, SD1_CLIP_PREFIX,
SD2_OPEN_CLIP_PREFIX); SDXL's are SDXL_CLIP_L_PREFIX, SDXL_OPEN_CLIP_G_PREFIX and, for the
refiner, REFINER_OPEN_CLIP_G_PREFIX. `model` is the transformers model the result is for (it
may live on the meta device): it decides the key form and how many layers to keep.

Module maps (diffusers module path -> original module path, no file prefix), for LoRA keys:
`unet_module_map(config)`, `controlnet_module_map(config)`,
`text_encoder_module_map(num_layers, style)`; `translate(path, map)` renames a module path
or a parameter key through one, `invert(map)` gives the other direction.
"""

from __future__ import annotations

from nodes.ops.families.sd.layout_unet import (
    CONTROLNET_PREFIX,
    UNET_PREFIX,
    StateDict,
    controlnet_from_ldm,
    controlnet_module_map,
    controlnet_to_ldm,
    invert,
    translate,
    unet_from_ldm,
    unet_module_map,
    unet_to_ldm,
)
from nodes.ops.weights.layout_clip import (
    REFINER_OPEN_CLIP_G_PREFIX,
    SD1_CLIP_PREFIX,
    SD2_OPEN_CLIP_PREFIX,
    SDXL_CLIP_L_PREFIX,
    SDXL_OPEN_CLIP_G_PREFIX,
    clip_from_ldm,
    clip_to_ldm,
    open_clip_from_ldm,
    open_clip_to_ldm,
    text_encoder_module_map,
)
from nodes.ops.weights.layout_vae import VAE_PREFIX, vae_from_ldm, vae_to_ldm

__all__ = [
    "CONTROLNET_PREFIX",
    "REFINER_OPEN_CLIP_G_PREFIX",
    "SD1_CLIP_PREFIX",
    "SD2_OPEN_CLIP_PREFIX",
    "SDXL_CLIP_L_PREFIX",
    "SDXL_OPEN_CLIP_G_PREFIX",
    "UNET_PREFIX",
    "VAE_PREFIX",
    "StateDict",
    "clip_from_ldm",
    "clip_to_ldm",
    "controlnet_from_ldm",
    "controlnet_module_map",
    "controlnet_to_ldm",
    "invert",
    "open_clip_from_ldm",
    "open_clip_to_ldm",
    "text_encoder_module_map",
    "translate",
    "unet_from_ldm",
    "unet_module_map",
    "unet_to_ldm",
    "vae_from_ldm",
    "vae_to_ldm",
]
