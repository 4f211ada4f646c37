"""Flux prompts: CLIP-L's pooled vector and T5's tokens, compared with what diffusers'
FluxPipeline makes of the same text with the same encoders and tokenizers."""

from __future__ import annotations

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

from nodes.ops.text.clip_tokenizer import clip_tokenizer
from nodes.ops.text.flux_encoding import encode_flux, flux_encoders
from nodes.ops.text.t5_tokenizer import t5_tokenizer
from tests.flux import tiny

# The last is past CLIP's 77 tokens (both keep the first 77) and within T5's 256.
PROMPTS = ["a photo of a cat", "", "a red fox in the snow, " * 20]
TOLERANCE = 5e-5  # the same modules on the same ids; float rounding of the two calls


@pytest.fixture(scope="module")
def pipeline() -> FluxPipeline:
    return FluxPipeline(
        FlowMatchEulerDiscreteScheduler(),
        tiny.vae(),
        tiny.clip_l(),
        clip_tokenizer("eos"),
        tiny.t5(),
        t5_tokenizer(),
        tiny.transformer(),
    )


@pytest.mark.parametrize("prompt", PROMPTS, ids=["short", "empty", "long"])
def test_a_prompt_is_encoded_as_flux_pipeline_encodes_it(
    pipeline: FluxPipeline, prompt: str
) -> None:
    encoders = flux_encoders(pipeline.text_encoder, pipeline.text_encoder_2)
    part = encode_flux(encoders, prompt)
    embeds, pooled, _ = pipeline.encode_prompt(prompt, prompt, max_sequence_length=256)
    assert part.embeds.shape == embeds.shape == (1, 256, tiny.T5_WIDTH)
    torch.testing.assert_close(part.embeds, embeds.float(), atol=TOLERANCE, rtol=0)
    assert part.pooled is not None
    torch.testing.assert_close(part.pooled, pooled.float(), atol=TOLERANCE, rtol=0)


def test_each_encoder_reads_its_own_text(pipeline: FluxPipeline) -> None:
    encoders = flux_encoders(pipeline.text_encoder, pipeline.text_encoder_2)
    both = encode_flux(encoders, {"clip_l": "a cat", "t5xxl": "a dog"})
    cat, dog = encode_flux(encoders, "a cat"), encode_flux(encoders, "a dog")
    assert both.pooled is not None and cat.pooled is not None
    assert torch.equal(both.pooled, cat.pooled)
    assert torch.equal(both.embeds, dog.embeds)


def test_a_long_t5_prompt_is_not_cut(pipeline: FluxPipeline) -> None:
    # FluxPipeline cuts T5 at max_sequence_length; ComfyUI, whose workflows we run, does not.
    encoders = flux_encoders(pipeline.text_encoder, pipeline.text_encoder_2)
    part = encode_flux(encoders, "word " * 300)
    assert part.embeds.shape[1] == 301  # 300 tokens and </s>


def test_a_clip_without_t5_is_refused_by_name(pipeline: FluxPipeline) -> None:
    encoders = flux_encoders(pipeline.text_encoder, pipeline.text_encoder_2)
    encoders.encoders.pop()
    with pytest.raises(ValueError, match="T5-XXL"):
        encode_flux(encoders, "a cat")
