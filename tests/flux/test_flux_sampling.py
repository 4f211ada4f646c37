"""Flux sampling against diffusers' FluxPipeline, on the same tiny random models, the same
prompt embeddings, noise, size and steps: the decoded pictures agree to float precision.
(The prompts' encoding is compared on its own in test_flux_text.py.)"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

from engine.types import ConditioningPart, Latent
from nodes.flux import flux_shift
from nodes.ops.families.flux.call import image_ids, pack, unpack
from nodes.ops.families.flux.family import model_config
from nodes.ops.pixels.vae import decode
from nodes.ops.sampling.sample import (
    BatchNoise,
    Guidance,
    SampleSettings,
    denoise_latent,
    model_schedule,
    sigmas_for,
)
from tests.flux import tiny

SIZE, STEPS, SEED = 64, 4, 11
TOLERANCE = 1e-4  # max abs difference of decoded pixels in [0, 1]


def prompt() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return torch.randn(1, 256, tiny.T5_WIDTH, generator=g), torch.randn(
        1, tiny.CLIP_WIDTH, generator=g
    )


def ours(transformer: Any, vae: Any, dev: bool, guidance: float = 3.5) -> torch.Tensor:
    config = model_config(guidance=dev)
    if dev:  # as ModelSamplingFlux sets it for this size (the pipeline's dynamic shift)
        mu = flux_shift(SIZE, SIZE, 0.5, 1.15)
        config["schedule"] = {"kind": "flow", "shift": mu, "shift_kind": "exponential"}
    embeds, pooled = prompt()
    part = ConditioningPart(embeds, pooled, {"guidance": guidance})
    settings = SampleSettings(seed=SEED, steps=STEPS, cfg=1.0, sampler="euler", scheduler="simple")
    sigmas = sigmas_for(model_schedule(config), settings)
    latent = Latent(torch.zeros(1, 16, SIZE // 8, SIZE // 8))
    samples, _ = denoise_latent(
        transformer, config, Guidance([part], [], 1.0), latent, sigmas, "euler", seed=SEED
    )
    return decode(vae, samples)


def theirs(transformer: Any, vae: Any, dev: bool, guidance: float = 3.5) -> torch.Tensor:
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=dev, base_shift=0.5, max_shift=1.15, shift=1.0
    )
    pipe = FluxPipeline(scheduler, vae, None, None, None, None, transformer)  # type: ignore[arg-type]
    noise = BatchNoise(SEED, torch.Size([1, 16, SIZE // 8, SIZE // 8]), [0]).draw()
    embeds, pooled = prompt()
    out = pipe(
        prompt_embeds=embeds,
        pooled_prompt_embeds=pooled,
        latents=pack(noise),
        height=SIZE,
        width=SIZE,
        num_inference_steps=STEPS,
        guidance_scale=guidance,
        output_type="pt",
    ).images
    return out.movedim(1, -1).to(torch.float32)


@pytest.mark.parametrize("dev", [True, False], ids=["dev", "schnell"])
def test_txt2img_equals_flux_pipeline(dev: bool) -> None:
    transformer, vae = tiny.transformer(guidance=dev), tiny.vae()
    mine, reference = ours(transformer, vae, dev), theirs(transformer, vae, dev)
    assert mine.shape == reference.shape == (1, SIZE, SIZE, 3)
    assert float((mine - reference).abs().max()) < TOLERANCE
    assert float(reference.std()) > 0.01  # a picture, not a flat field


def test_the_guidance_scale_reaches_dev_and_changes_the_picture() -> None:
    transformer, vae = tiny.transformer(guidance=True), tiny.vae()
    low, high = ours(transformer, vae, True, 1.0), ours(transformer, vae, True, 5.0)
    assert float((low - high).abs().max()) > 0.01
    assert float((high - theirs(transformer, vae, True, 5.0)).abs().max()) < TOLERANCE


def test_packing_two_by_two_patches_into_tokens_round_trips() -> None:
    latent = torch.randn(2, 16, 6, 10)
    tokens = pack(latent)
    assert tokens.shape == (2, 15, 64)
    # token 0 holds the top-left 2x2 patch of every channel, channel-major
    torch.testing.assert_close(tokens[0, 0], latent[0, :, :2, :2].reshape(-1))
    assert torch.equal(unpack(tokens, 6, 10), latent)


def test_token_positions_are_row_and_column_of_the_patch() -> None:
    ids = image_ids(4, 6)
    assert ids.shape == (6, 3)
    assert ids[:, 0].eq(0).all()
    assert ids[:, 1].tolist() == [0, 0, 0, 1, 1, 1] and ids[:, 2].tolist() == [0, 1, 2] * 2
    assert image_ids(4, 6, top=4, left=2)[0].tolist() == [0, 2, 1]
