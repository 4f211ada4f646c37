"""Tiny random-weight Flux models for the tests: the real classes (diffusers'
FluxTransformer2DModel and 16-channel AutoencoderKL, transformers' CLIPTextModel and
T5EncoderModel) at a few hundred kilobytes each, seeded so they are the same on every run.

The vocabularies are the real ones (CLIP 49408, T5 32128 tokens), so the shipped tokenizers
feed them; everything else is as small as the classes allow.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import AutoencoderKL, FluxTransformer2DModel
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

CLIP_WIDTH = 32  # pooled_projection_dim
T5_WIDTH = 48  # joint_attention_dim
HEADS, HEAD_DIM = 2, 16


def transformer_config(guidance: bool) -> dict[str, Any]:
    """dev embeds the guidance scale (guidance=True); schnell does not."""
    return dict(
        patch_size=1,
        in_channels=64,  # 16 latent channels x a 2x2 patch
        num_layers=1,
        num_single_layers=2,
        attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS,
        joint_attention_dim=T5_WIDTH,
        pooled_projection_dim=CLIP_WIDTH,
        guidance_embeds=guidance,
        axes_dims_rope=(4, 6, 6),  # sums to the head dim, as (16, 56, 56) does to 128
    )


VAE_CONFIG: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=16,
    block_out_channels=(8, 8, 16, 16),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=1,
    norm_num_groups=4,
    sample_size=64,
    scaling_factor=0.3611,
    shift_factor=0.1159,
    use_quant_conv=False,
    use_post_quant_conv=False,
)


def transformer(guidance: bool = True, seed: int = 0) -> FluxTransformer2DModel:
    torch.manual_seed(seed)
    model = FluxTransformer2DModel(**transformer_config(guidance)).eval()
    # A new model's output projection starts near zero; give every weight some size so a
    # wrong wiring shows in the pictures.
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.2)
    return model


def vae(seed: int = 1) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL(**VAE_CONFIG).eval()


def clip_l(seed: int = 2) -> CLIPTextModel:
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=CLIP_WIDTH,
        intermediate_size=2 * CLIP_WIDTH,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=CLIP_WIDTH,
        hidden_act="quick_gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    return CLIPTextModel(config).eval()


def t5(seed: int = 3) -> T5EncoderModel:
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=32128,
        d_model=T5_WIDTH,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu",  # T5 v1.1, as Flux's T5-XXL
        dense_act_fn="gelu_new",
        is_gated_act=True,
        tie_word_embeddings=False,
    )
    return T5EncoderModel(config).eval()
