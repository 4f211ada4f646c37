"""The toy model's parts and the noise schedule they are trained with.

Same classes and wiring as Stable Diffusion 1.x (CLIP text encoder, cross-attention UNet with
convolutional proj_in, factor-8 VAE with 4 latent channels, ControlNet), sized for a 64x64
toy world, so our loader detects the exported file as family "sd1".
"""

from __future__ import annotations

import math
from typing import Any

import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from nodes.ops.text.encoding import tokenize_chunks

TEXT_WIDTH = 64
TOKEN_INIT_STD, POSITION_INIT_STD = 0.5, 0.2
VAE_CONFIG: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    block_out_channels=(16, 32, 64, 64),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=1,
    norm_num_groups=8,
    sample_size=64,
)
UNET_CONFIG: dict[str, Any] = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    block_out_channels=(64, 128),
    layers_per_block=1,
    norm_num_groups=16,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=TEXT_WIDTH,
    attention_head_dim=(4, 8),  # diffusers reads this as heads per block: 16-wide heads
    use_linear_projection=False,
)
CONTROL_EMBEDDING = (16, 32, 64, 64)


def text_config(width: int = TEXT_WIDTH, layers: int = 3) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=width,
        intermediate_size=4 * width,
        num_hidden_layers=layers,
        num_attention_heads=max(1, width // 16),
        max_position_embeddings=77,
        projection_dim=width,
        hidden_act="quick_gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )


def new_vae(**overrides: Any) -> AutoencoderKL:
    return AutoencoderKL(**{**VAE_CONFIG, **overrides})


def new_text_encoder(**overrides: Any) -> CLIPTextModel:
    """A fresh CLIP text encoder whose token embeddings start large (std 0.5, not CLIP's
    0.02): then every word stays distinct in its own hidden state from the first step. With
    the small default, the words the UNet learns to use last (left, right, top ...) were
    washed out by the time it could use them, and the model never followed positions."""
    model = CLIPTextModel(text_config(**overrides))
    with torch.no_grad():
        model.embeddings.token_embedding.weight.normal_(0.0, TOKEN_INIT_STD)
        model.embeddings.position_embedding.weight.normal_(0.0, POSITION_INIT_STD)
    return model


def new_unet(**overrides: Any) -> UNet2DConditionModel:
    return UNet2DConditionModel(**{**UNET_CONFIG, **overrides})


def new_controlnet(unet: UNet2DConditionModel) -> ControlNetModel:
    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=CONTROL_EMBEDDING)


def param_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def token_ids(captions: list[str]) -> torch.Tensor:
    """[N, 77] ids exactly as inference tokenizes a prompt (BOS, tokens, EOS, EOS padding)."""
    cache: dict[str, torch.Tensor] = {}
    rows = []
    for caption in captions:
        if caption not in cache:
            cache[caption] = tokenize_chunks(caption, "eos")[0]
        rows.append(cache[caption])
    return torch.stack(rows)


def encode_text(encoder: CLIPTextModel, ids: torch.Tensor) -> torch.Tensor:
    """SD1's conditioning: the last layer after the final layer norm, no attention mask."""
    return encoder(input_ids=ids).last_hidden_state


class NoiseSchedule:
    """SD's DDPM schedule: scaled_linear betas 0.00085 -> 0.012 over 1000 steps."""

    def __init__(self, steps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012):
        root = torch.linspace(
            math.sqrt(beta_start), math.sqrt(beta_end), steps, dtype=torch.float64
        )
        self.alphas_cumprod = torch.cumprod(1.0 - root**2, dim=0).to(torch.float32)
        self.steps = steps

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ac = self.alphas_cumprod[t].reshape(-1, 1, 1, 1)
        return ac.sqrt() * x0 + (1.0 - ac).sqrt() * noise

    def sample_t(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randint(0, self.steps, (batch,), generator=generator)
