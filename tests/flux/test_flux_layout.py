"""The Flux transformer's BFL layout <-> diffusers: every layout fact, three ways.

Round trips prove the two directions are inverses; diffusers' own converter (which works only
at Flux.1's full 3072 width) checks the facts themselves, on thin stand-ins whose rows carry
their identity; and a model filled from a BFL file must compute what the original computes.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from diffusers import FluxTransformer2DModel
from diffusers.loaders.single_file_utils import convert_flux_transformer_checkpoint_to_diffusers

from nodes.ops.families.flux import layout as L
from nodes.ops.weights.build import fill_model
from nodes.ops.weights.checkpoint_io import read_shapes, read_state_dict
from tests.flux import tiny
from tests.flux.conftest import Written

VARIANTS = pytest.mark.parametrize("guidance", [True, False], ids=["dev", "schnell"])


def _meta_model(**config: Any) -> FluxTransformer2DModel:
    with torch.device("meta"):
        return FluxTransformer2DModel(**config)


def _full_size_bfl_shapes(guidance: bool, layers: int = 2) -> dict[str, tuple[int, ...]]:
    """Flux.1's real widths (24 heads x 128), fewer blocks: names and shapes only."""
    model = _meta_model(num_layers=layers, num_single_layers=layers, guidance_embeds=guidance)
    return {k: tuple(v.shape) for k, v in L.transformer_to_bfl(model.state_dict()).items()}


@VARIANTS
def test_round_trip_reproduces_every_tensor_bit_for_bit(guidance: bool) -> None:
    sd = tiny.transformer(guidance).state_dict()
    bfl = L.transformer_to_bfl(sd)
    back = L.transformer_from_bfl(bfl)
    assert back.keys() == sd.keys()
    for key, value in sd.items():
        assert back[key].dtype == value.dtype and torch.equal(back[key], value), key
    again = L.transformer_to_bfl(back)
    assert again.keys() == bfl.keys()
    assert all(torch.equal(again[k], v) for k, v in bfl.items())


@VARIANTS
def test_matches_diffusers_converter_at_full_width(guidance: bool) -> None:
    # One column per tensor suffices (every split and swap is along the rows); row r of the
    # i-th tensor holds i * 1e5 + r, so any row out of place, or tensor misnamed, shows.
    shapes = _full_size_bfl_shapes(guidance)
    thin = {
        key: (torch.arange(shape[0], dtype=torch.float64) + i * 100_000).reshape(
            shape[0], *([1] * (len(shape) - 1))
        )
        for i, (key, shape) in enumerate(sorted(shapes.items()))
    }
    theirs = convert_flux_transformer_checkpoint_to_diffusers(dict(thin))
    ours = L.transformer_from_bfl(thin)
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert all(torch.equal(v, thin[k]) for k, v in L.transformer_to_bfl(ours).items())


def test_bfl_names_and_shapes_of_flux1_dev() -> None:
    shapes = _full_size_bfl_shapes(guidance=True, layers=1)
    assert shapes["img_in.weight"] == (3072, 64)
    assert shapes["txt_in.weight"] == (3072, 4096)
    assert shapes["vector_in.in_layer.weight"] == (3072, 768)
    assert shapes["guidance_in.in_layer.weight"] == (3072, 256)
    assert shapes["double_blocks.0.img_attn.qkv.weight"] == (3 * 3072, 3072)
    assert shapes["double_blocks.0.img_attn.norm.query_norm.scale"] == (128,)
    assert shapes["double_blocks.0.img_mod.lin.weight"] == (6 * 3072, 3072)
    assert shapes["single_blocks.0.linear1.weight"] == (3 * 3072 + 4 * 3072, 3072)
    assert shapes["single_blocks.0.linear2.weight"] == (3072, 3072 + 4 * 3072)
    assert shapes["final_layer.adaLN_modulation.1.weight"] == (2 * 3072, 3072)
    # 24 tensors per double block, 8 per single block, 20 outside (16 without guidance):
    # 19 * 24 + 38 * 8 + 20 = 780 in flux1-dev.safetensors.
    assert len(shapes) == 24 + 8 + 20


def test_fused_rows_split_into_q_k_v_and_mlp_in_order() -> None:
    sd = tiny.transformer().state_dict()
    bfl = L.transformer_to_bfl(sd)
    h = tiny.HEADS * tiny.HEAD_DIM
    qkv = bfl["double_blocks.0.img_attn.qkv.weight"]
    for i, name in enumerate(("to_q", "to_k", "to_v")):
        assert torch.equal(qkv[i * h : (i + 1) * h], sd[f"transformer_blocks.0.attn.{name}.weight"])
    txt = bfl["double_blocks.0.txt_attn.qkv.bias"]
    assert torch.equal(txt[h : 2 * h], sd["transformer_blocks.0.attn.add_k_proj.bias"])
    linear1 = bfl["single_blocks.1.linear1.weight"]
    assert torch.equal(linear1[2 * h : 3 * h], sd["single_transformer_blocks.1.attn.to_v.weight"])
    assert torch.equal(linear1[3 * h :], sd["single_transformer_blocks.1.proj_mlp.weight"])


def test_final_modulation_halves_swap() -> None:
    sd = tiny.transformer().state_dict()
    bfl = L.transformer_to_bfl(sd)
    shift_scale = bfl["final_layer.adaLN_modulation.1.weight"]
    scale, shift = sd["norm_out.linear.weight"].chunk(2)
    assert torch.equal(shift_scale, torch.cat([shift, scale]))
    assert not torch.equal(shift_scale, sd["norm_out.linear.weight"])


def test_loading_direction_shares_tensors() -> None:
    bfl = L.transformer_to_bfl(tiny.transformer().state_dict())
    sd = L.transformer_from_bfl(bfl)
    assert sd["x_embedder.weight"] is bfl["img_in.weight"]
    assert (
        sd["transformer_blocks.0.attn.norm_q.weight"]
        is bfl["double_blocks.0.img_attn.norm.query_norm.scale"]
    )
    fused = bfl["single_blocks.0.linear1.weight"]
    for name in ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"):
        part = sd[f"single_transformer_blocks.0.{name}.weight"]
        assert part.untyped_storage().data_ptr() == fused.untyped_storage().data_ptr()


def test_meta_tensors_convert_without_allocating() -> None:
    model = _meta_model(guidance_embeds=True)  # full-size Flux.1 dev: 11.9B parameters
    bfl = L.transformer_to_bfl(model.state_dict())
    assert len(bfl) == 780 and all(v.is_meta for v in bfl.values())
    back = L.transformer_from_bfl(bfl)
    assert {k: v.shape for k, v in back.items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }


def test_prefix_selects_the_transformer_of_an_all_in_one_file() -> None:
    bfl = L.transformer_to_bfl(tiny.transformer().state_dict(), L.TRANSFORMER_PREFIX)
    mixed = {**bfl, "vae.decoder.conv_in.weight": torch.zeros(1), "text_encoders.x": torch.zeros(1)}
    assert L.transformer_from_bfl(mixed, L.TRANSFORMER_PREFIX).keys() == (
        tiny.transformer().state_dict().keys()
    )


def test_unknown_keys_are_refused_by_name() -> None:
    bfl = L.transformer_to_bfl(tiny.transformer().state_dict())
    with pytest.raises(KeyError, match="distilled_guidance_layer"):
        L.transformer_from_bfl({**bfl, "distilled_guidance_layer.in_proj.weight": torch.zeros(1)})
    with pytest.raises(KeyError, match="pos_embed"):
        L.transformer_to_bfl({"pos_embed.proj.weight": torch.zeros(1)})


def test_missing_fused_part_is_refused() -> None:
    sd = tiny.transformer().state_dict()
    del sd["transformer_blocks.0.attn.to_k.weight"]
    with pytest.raises(KeyError, match=r"img_attn\.qkv\.weight"):
        L.transformer_to_bfl(sd)


def _load_bfl_file(path: Any) -> FluxTransformer2DModel:
    """What a loader does: config from the header, model on the meta device, filled."""
    shapes, metadata = read_shapes(path)
    config = L.flux_config_from_shapes(shapes, L.embedded_config(metadata))
    state, _ = read_state_dict(path)
    with torch.device("meta"):
        model = FluxTransformer2DModel(**config)
    return fill_model(model, L.transformer_from_bfl(state), "Flux transformer", path).eval()


def _inputs(guidance: bool) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(7)
    tokens, text = 16, 5  # a 4x4 grid of 2x2 patches; 5 T5 tokens
    img_ids = torch.stack(
        torch.meshgrid(torch.zeros(1), torch.arange(4.0), torch.arange(4.0), indexing="ij"), -1
    ).reshape(tokens, 3)
    return {
        "hidden_states": torch.randn(1, tokens, 64, generator=generator),
        "encoder_hidden_states": torch.randn(1, text, tiny.T5_WIDTH, generator=generator),
        "pooled_projections": torch.randn(1, tiny.CLIP_WIDTH, generator=generator),
        "timestep": torch.tensor([0.7]),
        "img_ids": img_ids,
        "txt_ids": torch.zeros(text, 3),
        "guidance": torch.tensor([3.5]) if guidance else None,
    }


@pytest.mark.parametrize("variant", ["dev", "schnell"])
def test_model_loaded_from_bfl_file_computes_the_original(written: Written, variant: str) -> None:
    guidance = variant == "dev"
    path = written.dev.transformer if guidance else written.schnell_transformer
    loaded = _load_bfl_file(path)
    original = tiny.transformer(guidance)
    assert not any(p.is_meta for p in loaded.parameters())
    inputs = _inputs(guidance)
    with torch.no_grad():
        ours = loaded(**inputs, return_dict=False)[0]
        theirs = original(**inputs, return_dict=False)[0]
    assert ours.shape == (1, 16, 64)
    assert ours.abs().mean() > 0.1  # a real output, not a zeroed wiring
    assert (ours - theirs).abs().max().item() < 1e-6
