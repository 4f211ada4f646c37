"""T5, CLIP-L and AE configs read from shapes build models that take the file's tensors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

from nodes.ops.families.flux import component_configs as C
from tests.flux import files, tiny


def _shapes(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def _same_shapes(model: Any, original: Any) -> bool:
    return _shapes(model.state_dict()) == _shapes(original.state_dict())


def test_t5_config_builds_the_same_encoder() -> None:
    config = C.t5_config_from_shapes(_shapes(files.t5_file_state()))
    assert config["feed_forward_proj"] == "gated-gelu"
    with torch.device("meta"):
        model = T5EncoderModel(T5Config(**config))
    assert _same_shapes(model, tiny.t5())
    assert model.config.relative_attention_max_distance == 128


def test_clip_config_with_its_saved_heads_builds_the_same_encoder() -> None:
    shapes = _shapes(files.clip_l_file_state())
    config = C.clip_config_from_shapes(shapes, override={"num_attention_heads": 4})
    with torch.device("meta"):
        model = CLIPTextModel(CLIPTextConfig(**config))
    assert _same_shapes(model, tiny.clip_l())
    assert config["num_attention_heads"] == 4 and config["hidden_act"] == "quick_gelu"


def test_full_size_clip_l_needs_no_saved_config() -> None:
    with torch.device("meta"):
        model = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072))
    shapes = {"text_model." + k: s for k, s in _shapes(model.state_dict()).items()}
    config = C.clip_config_from_shapes(shapes)
    assert (config["num_attention_heads"], config["num_hidden_layers"]) == (12, 12)


def test_saved_config_contradicting_the_weights_is_refused() -> None:
    with pytest.raises(ValueError, match="d_model=4096"):
        C.t5_config_from_shapes(_shapes(files.t5_file_state()), override={"d_model": 4096})
    with pytest.raises(ValueError, match="latent_channels=4"):
        C.ae_config_from_shapes(_shapes(files.ae_file_state()), override={"latent_channels": 4})


def test_ae_config_takes_norm_groups_from_the_saved_config() -> None:
    shapes = _shapes(files.ae_file_state())
    assert C.ae_config_from_shapes(shapes)["norm_num_groups"] == 32  # Flux.1's
    config = C.ae_config_from_shapes(shapes, override=dict(tiny.VAE_CONFIG))
    assert {k: config[k] for k in tiny.VAE_CONFIG} == tiny.VAE_CONFIG
