"""Weighted prompts through each family's tiny text encoders: weight 1 is the plain prompt
bit for bit, and a weighted token moves its distance from the empty prompt by its weight."""

from __future__ import annotations

import functools

import pytest
import torch

from engine.types import ConditioningPart
from nodes.ops.families.sd.loading import ROLES
from nodes.ops.text.clip_tokenizer import clip_tokenizer
from nodes.ops.text.encoding import TextEncoder, TextEncoders, encode, tokenize_chunks
from nodes.ops.text.flux_encoding import encode_flux, flux_encoders, t5_tokens
from nodes.ops.text.weighting import apply_weights
from tests.flux import tiny as flux_tiny
from tests.sd import tiny

FAMILIES = ("sd1", "sd2", "sdxl")
RED = 2  # "a red circle": start, a, red, ... the column of "red" in the window


@functools.cache  # the models are only read: build each family's once
def sd_encoders(family: str, layer: int = -1, final_norm: bool = True) -> TextEncoders:
    roles = {name: (pad, pooled) for name, pad, pooled in ROLES[family].values()}
    return TextEncoders(
        family,
        [
            TextEncoder(name, model, roles[name][0], layer, final_norm, roles[name][1])  # type: ignore[arg-type]
            for name, model in tiny.text_encoders(family).items()
        ],
    )


def empty_prompt(encoders: TextEncoders) -> torch.Tensor:
    return encode(encoders, "").embeds


@pytest.mark.parametrize("family", FAMILIES)
def test_weight_one_is_the_plain_prompt_bit_for_bit(family: str) -> None:
    encoders = sd_encoders(family)
    plain = encode(encoders, "a red circle")
    for prompt in ("a (red:1.0) circle", "(a red circle:1)", "((a red circle:1.0))"):
        weighted = encode(encoders, prompt)
        assert torch.equal(weighted.embeds, plain.embeds), prompt
        assert (weighted.pooled is None) == (plain.pooled is None)
        if plain.pooled is not None:
            assert torch.equal(weighted.pooled, plain.pooled)


@pytest.mark.parametrize("family", FAMILIES)
def test_weight_two_doubles_a_tokens_distance_from_the_empty_prompt(family: str) -> None:
    encoders = sd_encoders(family)
    plain = encode(encoders, "a red circle").embeds
    weighted = encode(encoders, "a (red:2) circle").embeds
    empty = empty_prompt(encoders)
    torch.testing.assert_close(
        weighted[:, RED] - empty[:, RED], 2 * (plain[:, RED] - empty[:, RED]), atol=1e-5, rtol=0
    )
    others = [i for i in range(plain.shape[1]) if i != RED]
    assert torch.equal(weighted[:, others], plain[:, others])


def test_sdxl_weights_both_encoders_and_leaves_the_pooled_vector() -> None:
    encoders = sd_encoders("sdxl")
    plain, weighted = encode(encoders, "a red circle"), encode(encoders, "a (red:0.5) circle")
    empty = empty_prompt(encoders)
    for half in (slice(0, tiny.WIDTH), slice(tiny.WIDTH, 2 * tiny.WIDTH)):  # clip_l, clip_g
        moved = weighted.embeds[0, RED, half] - empty[0, RED, half]
        torch.testing.assert_close(moved, 0.5 * (plain.embeds[0, RED, half] - empty[0, RED, half]))
    assert plain.pooled is not None and weighted.pooled is not None
    assert torch.equal(weighted.pooled, plain.pooled)


def test_weights_in_the_second_window_of_a_long_prompt_land_on_their_token() -> None:
    encoders = sd_encoders("sd1")
    filler = "cat " * 80  # 80 tokens: "red" is the 6th token of the second window
    plain = encode(encoders, filler + "red").embeds
    weighted = encode(encoders, filler + "(red:3)").embeds
    column = 77 + 1 + 5
    empty = empty_prompt(encoders)[0, 1 + 5]
    torch.testing.assert_close(weighted[0, column] - empty, 3 * (plain[0, column] - empty))
    assert torch.equal(weighted[0, :column], plain[0, :column])


def test_escaped_parentheses_are_encoded_as_parentheses() -> None:
    literal = clip_tokenizer("eos")("a (red) circle", add_special_tokens=False)["input_ids"]
    ids = tokenize_chunks(r"a \(red\) circle", "eos")[0]
    assert ids[1 : 1 + len(literal)].tolist() == literal
    assert tokenize_chunks("a (red) circle", "eos")[0, 1:4].tolist() == [*literal[:1], 736, 7117]


def test_an_embeddings_weight_moves_its_vectors() -> None:
    encoders = sd_encoders("sd1")
    vectors = torch.randn(2, tiny.WIDTH, generator=torch.Generator().manual_seed(5))

    def lookup(name: str) -> dict[str, torch.Tensor]:
        assert name == "cat_ti"
        return {"emb_params": vectors}

    def run(prompt: str) -> ConditioningPart:
        return encode(encoders, prompt, embeddings=lookup)

    plain, weighted = run("a embedding:cat_ti indoors"), run("a (embedding:cat_ti:1.5) indoors")
    empty = empty_prompt(encoders)
    columns = [2, 3]  # start, a, then the embedding's two vectors
    torch.testing.assert_close(
        weighted.embeds[0, columns] - empty[0, columns],
        1.5 * (plain.embeds[0, columns] - empty[0, columns]),
    )
    others = [i for i in range(77) if i not in columns]
    assert torch.equal(weighted.embeds[0, others], plain.embeds[0, others])


@pytest.fixture(scope="module")
def flux() -> TextEncoders:
    return flux_encoders(flux_tiny.clip_l(), flux_tiny.t5())


def test_flux_weight_one_is_the_plain_prompt_bit_for_bit(flux: TextEncoders) -> None:
    plain = encode_flux(flux, "a red fox")
    weighted = encode_flux(flux, "a (red:1.0) fox")
    assert torch.equal(weighted.embeds, plain.embeds)
    assert plain.pooled is not None and weighted.pooled is not None
    assert torch.equal(weighted.pooled, plain.pooled)


def test_flux_t5_weight_two_doubles_a_tokens_distance_from_the_empty_prompt(
    flux: TextEncoders,
) -> None:
    _, weights = t5_tokens("a (red:2) fox")
    column = weights.index(2.0)
    plain = encode_flux(flux, "a red fox").embeds
    weighted = encode_flux(flux, "a (red:2) fox").embeds
    empty = encode_flux(flux, "").embeds
    torch.testing.assert_close(
        weighted[0, column] - empty[0, column], 2 * (plain[0, column] - empty[0, column])
    )
    others = [i for i in range(weighted.shape[1]) if i != column]
    assert torch.equal(weighted[0, others], plain[0, others])


def test_flux_clip_pooled_reads_the_prompt_without_the_syntax(flux: TextEncoders) -> None:
    weighted = encode_flux(flux, {"clip_l": "a (red:1.8) fox", "t5xxl": ""})
    plain = encode_flux(flux, {"clip_l": "a red fox", "t5xxl": ""})
    assert weighted.pooled is not None and plain.pooled is not None
    assert torch.equal(weighted.pooled, plain.pooled)


@pytest.mark.parametrize("layer", [-4, -24])
def test_a_clip_layer_past_the_encoders_depth_reads_the_last_layer(layer: int) -> None:
    encoders = sd_encoders("sd1", final_norm=False)
    model = encoders.encoders[0].model
    deep = encode(encoders, "a red circle", layer=layer).embeds
    ids = torch.tensor([[49406, 320, 736, 7117, 49407] + [49407] * 72])
    with torch.inference_mode():
        last = model(input_ids=ids).last_hidden_state  # final layer, final norm
    assert torch.equal(deep, last)
    assert not torch.equal(deep, encode(encoders, "a red circle", layer=-3).embeds)


def test_a_short_weighted_piece_at_a_window_edge_moves_whole_to_the_next_window() -> None:
    # 73 tokens, then 3 weighted ones that do not fit the window's last 2 places
    ids = tokenize_chunks("cat " * 73 + "(red tabby cat:1.2)", "eos")
    assert ids.shape == (2, 77)
    assert ids[0, 74].item() == 49407 and ids[0, 75:].tolist() == [49407, 49407]
    words = clip_tokenizer("eos")("red tabby cat", add_special_tokens=False)["input_ids"]
    assert ids[1, 1:4].tolist() == words and ids[1, 4].item() == 49407


def test_a_long_piece_is_cut_at_the_window_edge() -> None:
    ids = tokenize_chunks("cat " * 73 + "(" + "red " * 10 + ":1.2)", "eos")
    red = ids[0, 1:76].tolist().count(736) + ids[1].tolist().count(736)
    assert ids[0, 74].item() == 736 and ids[0, 76].item() == 49407 and red == 10


def test_a_weight_so_large_that_the_encoding_overflows_is_refused() -> None:
    with pytest.raises(ValueError, match="weight of 1e\\+300 is too large"):
        encode(sd_encoders("sd1"), "a (red:1e300) circle")
    assert torch.isfinite(encode(sd_encoders("sd1"), "a (red:666) circle").embeds).all()


def test_half_precision_states_are_weighted_in_float32() -> None:
    states = torch.full((1, 3, 4), 1000.0, dtype=torch.float16)  # 100 x 1000 overflows fp16
    weights = torch.tensor([[1.0, 100.0, 1.0]], dtype=torch.float64)
    out = apply_weights(states, torch.zeros(1, 3, 4, dtype=torch.float16), weights)
    assert out.dtype == torch.float32 and out[0, 1, 0].item() == 100_000.0
    assert torch.equal(out[0, 0], states[0, 0].float())
