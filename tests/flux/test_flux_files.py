"""The written fixtures are the files users have: where they lie, and what they hold."""

from __future__ import annotations

import json

import torch
from diffusers import AutoencoderKL, FluxTransformer2DModel
from transformers import CLIPTextModel, T5EncoderModel

from nodes.ops.weights.checkpoint_io import read_shapes
from tests.flux import files, tiny
from tests.flux.conftest import Written


def test_split_files_lie_where_comfyui_keeps_them(written: Written) -> None:
    models = written.dev.transformer.parents[1]
    assert written.dev.transformer == models / "diffusion_models/flux1-tiny-dev.safetensors"
    assert written.dev.clip_l == models / "text_encoders/clip_l.safetensors"
    assert written.dev.t5 == models / "text_encoders/t5xxl_tiny.safetensors"
    assert written.dev.ae == models / "vae/ae.safetensors"
    assert written.checkpoint == models / "checkpoints/flux1-tiny-dev.safetensors"


def test_transformer_file_carries_its_config(written: Written) -> None:
    shapes, metadata = read_shapes(written.dev.transformer)
    assert json.loads(metadata["diffgraph.transformer_config"]) == json.loads(
        json.dumps(tiny.transformer_config(True))
    )
    assert (
        "double_blocks.0.img_attn.qkv.weight" in shapes and "guidance_in.in_layer.weight" in shapes
    )


def test_all_in_one_holds_every_part_and_nothing_else(written: Written) -> None:
    shapes, _ = read_shapes(written.checkpoint)
    parts = [
        files.transformer_bfl(True),
        files.clip_l_file_state(),
        files.t5_file_state(),
        files.ae_file_state(),
    ]
    assert len(shapes) == sum(len(p) for p in parts)
    prefixes = ("model.diffusion_model.", "text_encoders.clip_l.", "text_encoders.t5xxl.", "vae.")
    assert all(k.startswith(prefixes) for k in shapes)


def test_diffusers_folder_loads_back_with_from_pretrained(written: Written) -> None:
    index = json.loads((written.folder / "model_index.json").read_text())
    assert index["_class_name"] == "FluxPipeline"
    assert index["text_encoder_2"] == ["transformers", "T5EncoderModel"]
    for cls, name, original in [
        (FluxTransformer2DModel, "transformer", tiny.transformer(True)),
        (AutoencoderKL, "vae", tiny.vae()),
        (CLIPTextModel, "text_encoder", tiny.clip_l()),
        (T5EncoderModel, "text_encoder_2", tiny.t5()),
    ]:
        loaded = cls.from_pretrained(written.folder / name)
        state = loaded.state_dict()
        assert all(torch.equal(state[k], v) for k, v in original.state_dict().items()), name
