"""Tiny random-weight models shaped like each Stable Diffusion family, for the tests.

Same classes and wiring as the real models (CLIP text encoders, a cross-attention UNet, a
factor-8 VAE, ControlNet), a few hundred kilobytes each, seeded so they are the same on
every run.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

WIDTH = 32  # text encoder width
TIME_IDS = 8  # SDXL addition_time_embed_dim


def text_config(act: str = "quick_gelu", width: int = WIDTH) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=width,
        hidden_act=act,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )


def unet_config(family: str, inpaint: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = dict(
        sample_size=8,
        in_channels=9 if inpaint else 4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=WIDTH,
        attention_head_dim=8,
    )
    if family == "sd2":
        config.update(use_linear_projection=True, attention_head_dim=(2, 4))
    if family in ("sdxl", "sdxl_refiner"):
        ids = 6 if family == "sdxl" else 5
        config.update(
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2),
            use_linear_projection=True,
            attention_head_dim=(2, 4),
            addition_embed_type="text_time",
            addition_time_embed_dim=TIME_IDS,
            projection_class_embeddings_input_dim=ids * TIME_IDS + WIDTH,
            cross_attention_dim=2 * WIDTH if family == "sdxl" else WIDTH,
        )
    return config


VAE_CONFIG: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    block_out_channels=(8, 8, 16, 16),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=1,
    norm_num_groups=4,
    sample_size=64,
)


def seeded(seed: int) -> None:
    torch.manual_seed(seed)


def unet(family: str, inpaint: bool = False, seed: int = 0) -> UNet2DConditionModel:
    seeded(seed)
    return UNet2DConditionModel(**unet_config(family, inpaint)).eval()


def vae(seed: int = 1) -> AutoencoderKL:
    seeded(seed)
    return AutoencoderKL(**VAE_CONFIG).eval()


def text_encoders(family: str, seed: int = 2) -> dict[str, Any]:
    """The family's encoders by role: clip_l (HF CLIP), clip_h / clip_g (OpenCLIP)."""
    seeded(seed)
    if family == "sd1":
        return {"clip_l": CLIPTextModel(text_config()).eval()}
    if family == "sd2":
        return {"clip_h": CLIPTextModel(text_config("gelu")).eval()}
    big_g = CLIPTextModelWithProjection(text_config("gelu")).eval()
    if family == "sdxl_refiner":
        return {"clip_g": big_g}
    return {"clip_l": CLIPTextModel(text_config()).eval(), "clip_g": big_g}


def controlnet(family: str = "sd1", seed: int = 3) -> ControlNetModel:
    seeded(seed)
    config = unet_config(family)
    keep = (
        "in_channels",
        "block_out_channels",
        "layers_per_block",
        "norm_num_groups",
        "down_block_types",
        "cross_attention_dim",
        "attention_head_dim",
        "use_linear_projection",
        "transformer_layers_per_block",
        "addition_embed_type",
        "addition_time_embed_dim",
        "projection_class_embeddings_input_dim",
    )
    args = {k: v for k, v in config.items() if k in keep}
    model = ControlNetModel(conditioning_embedding_out_channels=(8, 8, 16, 16), **args).eval()
    # A new ControlNet's output convolutions start at zero (it adds nothing until trained);
    # give them weights so tests can see its effect.
    for conv in [*model.controlnet_down_blocks, model.controlnet_mid_block]:
        torch.nn.init.normal_(conv.weight, std=0.5)
    return model
