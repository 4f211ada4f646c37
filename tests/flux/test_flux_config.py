"""The FluxTransformer2DModel config read from a file's shapes (and a saved config)."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import FluxTransformer2DModel

from nodes.ops.families.flux import layout as L
from tests.flux import tiny

VARIANTS = pytest.mark.parametrize("guidance", [True, False], ids=["dev", "schnell"])


def _shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


@VARIANTS
def test_inferred_from_bfl_shapes_equals_the_tiny_config(guidance: bool) -> None:
    bfl = _shapes(L.transformer_to_bfl(tiny.transformer(guidance).state_dict()))
    assert L.flux_config_from_shapes(bfl) == tiny.transformer_config(guidance)


@VARIANTS
def test_inferred_under_a_prefix_and_from_diffusers_names_alike(guidance: bool) -> None:
    sd = tiny.transformer(guidance).state_dict()
    prefixed = _shapes(L.transformer_to_bfl(sd, L.TRANSFORMER_PREFIX))
    prefixed["vae.decoder.conv_in.weight"] = (8, 16, 3, 3)  # other parts are ignored
    expected = tiny.transformer_config(guidance)
    assert L.flux_config_from_shapes(prefixed, prefix=L.TRANSFORMER_PREFIX) == expected
    assert L.flux_config_from_shapes(_shapes(sd)) == expected


def test_full_size_shapes_give_flux1_dev() -> None:
    with torch.device("meta"):
        model = FluxTransformer2DModel(guidance_embeds=True)  # diffusers' defaults: Flux.1
    config = L.flux_config_from_shapes(_shapes(L.transformer_to_bfl(model.state_dict())))
    assert config == {
        "patch_size": 1,
        "in_channels": 64,
        "num_layers": 19,
        "num_single_layers": 38,
        "attention_head_dim": 128,
        "num_attention_heads": 24,
        "joint_attention_dim": 4096,
        "pooled_projection_dim": 768,
        "guidance_embeds": True,
        "axes_dims_rope": L.FLUX1_ROPE_AXES,
    }


def test_head_split_comes_from_the_weights() -> None:
    config = {**tiny.transformer_config(True), "num_attention_heads": 4, "attention_head_dim": 8}
    config["axes_dims_rope"] = (2, 2, 4)
    with torch.device("meta"):
        model = FluxTransformer2DModel(**config)
    inferred = L.flux_config_from_shapes(_shapes(model.state_dict()))
    assert (inferred["num_attention_heads"], inferred["attention_head_dim"]) == (4, 8)


def test_saved_config_supplies_the_rope_axes() -> None:
    bfl = _shapes(L.transformer_to_bfl(tiny.transformer().state_dict()))
    config = L.flux_config_from_shapes(bfl, {"axes_dims_rope": [2, 8, 6], "_class_name": "x"})
    assert config["axes_dims_rope"] == (2, 8, 6)


def test_saved_config_contradicting_the_weights_is_refused() -> None:
    bfl = _shapes(L.transformer_to_bfl(tiny.transformer().state_dict()))
    with pytest.raises(ValueError, match="num_layers=19"):
        L.flux_config_from_shapes(bfl, {"num_layers": 19})
    with pytest.raises(ValueError, match="sum to the 16-wide heads"):
        L.flux_config_from_shapes(bfl, {"axes_dims_rope": [16, 56, 56]})


def test_default_rope_axes_keep_flux1_proportions() -> None:
    assert L.default_rope_axes(128) == L.FLUX1_ROPE_AXES == (16, 56, 56)
    assert L.default_rope_axes(16) == tuple(tiny.transformer_config(True)["axes_dims_rope"])
    for head_dim in (8, 24, 32, 48, 64, 96):
        axes = L.default_rope_axes(head_dim)
        assert sum(axes) == head_dim and all(n > 0 and n % 2 == 0 for n in axes)
    with pytest.raises(ValueError):
        L.default_rope_axes(15)


def test_not_a_flux_transformer_is_refused() -> None:
    with pytest.raises(ValueError, match=r"img_in\.weight"):
        L.flux_config_from_shapes({"input_blocks.0.0.weight": (32, 4, 3, 3)})


def test_embedded_config_is_read_from_metadata() -> None:
    metadata = {L.TRANSFORMER_CONFIG_KEY: json.dumps(tiny.transformer_config(False))}
    assert L.TRANSFORMER_CONFIG_KEY == "diffgraph.transformer_config"
    assert L.embedded_config(metadata) == json.loads(metadata[L.TRANSFORMER_CONFIG_KEY])
    assert L.embedded_config({}) is None
    with pytest.raises(ValueError, match="not valid JSON"):
        L.embedded_config({L.TRANSFORMER_CONFIG_KEY: "{"})
