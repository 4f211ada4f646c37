"""Flux LoRAs through Load LoRA, in the two namings people publish: diffusers/PEFT names
(ai-toolkit) and kohya's BFL names, whose fused layers are split onto diffusers' separate
ones. Applied, each equals the same update merged into the weights by hand."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.executor import Executor
from engine.model_store import ModelKey, ModelStore
from engine.registry import Registry
from engine.settings import Settings
from engine.types import Clip, Model
from formats.comfy_api import from_comfy_api
from nodes.ops.families.flux.call import image_ids
from nodes.ops.families.flux.layout import transformer_from_bfl, transformer_to_bfl
from nodes.ops.families.patches import add_lora, unet_in_use
from nodes.ops.text.encoding import TextEncoders
from nodes.ops.weights.checkpoint_write import write_safetensors
from tests.flux import tiny
from tests.flux.conftest import Written
from tests.flux.test_flux_workflows import dev_example, saved
from tests.sd.conftest import write_checkpoint

RANK = 4


def forward(transformer: Any) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return transformer(
        hidden_states=torch.randn(1, 16, 64, generator=g),
        encoder_hidden_states=torch.randn(1, 7, tiny.T5_WIDTH, generator=g),
        pooled_projections=torch.randn(1, tiny.CLIP_WIDTH, generator=g),
        timestep=torch.tensor([0.6]),
        img_ids=image_ids(8, 8),
        txt_ids=torch.zeros(7, 3),
        guidance=torch.tensor([3.5]),
        return_dict=False,
    )[0]


def lora_pair(rows: int, cols: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(RANK, cols, generator=g) * 0.3, torch.randn(rows, RANK, generator=g) * 0.3


def patched_model(lora: dict[str, torch.Tensor], path: Path, strength: float) -> torch.Tensor:
    """The tiny dev transformer with the LoRA file applied through Load LoRA's code."""
    transformer = tiny.transformer(True)
    store = ModelStore()
    handle = store.handle(ModelKey("tiny", "flux", "0", "transformer"), lambda: transformer)
    model = Model(handle, {"family": "flux_dev", "patches": ()})
    write_safetensors(path, lora, {})
    no_encoders = store.handle(ModelKey("tiny", "flux", "0", "clip"), lambda: TextEncoders("flux"))
    clip = Clip(no_encoders, {"family": "flux"})
    model, _ = add_lora(path, model, clip, strength, 0.0, store)
    with unet_in_use(model, store) as network, torch.no_grad():
        return forward(network)


def test_a_diffusers_named_lora_adds_its_update_to_the_named_weights(tmp_path: Path) -> None:
    down, up = lora_pair(tiny.HEADS * tiny.HEAD_DIM, tiny.HEADS * tiny.HEAD_DIM, 1)
    name = "transformer.transformer_blocks.0.attn.to_q"
    lora = {f"{name}.lora_A.weight": down, f"{name}.lora_B.weight": up}
    mine = patched_model(lora, tmp_path / "peft.safetensors", 0.7)
    expected = tiny.transformer(True)
    with torch.no_grad():
        expected.transformer_blocks[0].attn.to_q.weight += 0.7 * (up @ down)
        torch.testing.assert_close(mine, forward(expected), atol=1e-5, rtol=1e-5)


def test_a_kohya_lora_on_bfl_fused_layers_equals_merging_into_the_bfl_file(
    tmp_path: Path,
) -> None:
    bfl = transformer_to_bfl(tiny.transformer(True).state_dict())
    lora: dict[str, torch.Tensor] = {}
    for seed, layer in enumerate(
        [
            "double_blocks.0.img_attn.qkv",
            "single_blocks.1.linear1",
            "final_layer.adaLN_modulation.1",
        ]
    ):
        weight = bfl[f"{layer}.weight"]
        down, up = lora_pair(weight.shape[0], weight.shape[1], seed)
        flat = "lora_unet_" + layer.replace(".", "_")
        lora |= {f"{flat}.lora_down.weight": down, f"{flat}.lora_up.weight": up}
        lora[f"{flat}.alpha"] = torch.tensor(float(RANK) / 2)  # scale 0.5
        bfl[f"{layer}.weight"] = weight + 0.5 * (up @ down)
    mine = patched_model(lora, tmp_path / "kohya.safetensors", 1.0)
    expected = tiny.transformer(True)
    expected.load_state_dict(transformer_from_bfl(bfl))
    with torch.no_grad():
        torch.testing.assert_close(mine, forward(expected), atol=1e-5, rtol=1e-5)


@pytest.fixture
def home(written: Written, tmp_path: Path) -> Path:
    root = tmp_path / "home"
    shutil.copytree(written.dev.transformer.parents[2] / "models", root / "models")
    hidden = tiny.HEADS * tiny.HEAD_DIM
    down, up = lora_pair(3 * hidden, hidden, 7)
    flat = "lora_unet_double_blocks_0_img_attn_qkv"
    lora = {f"{flat}.lora_down.weight": down, f"{flat}.lora_up.weight": up * 5}
    write_safetensors(root / "models" / "loras" / "flux-style.safetensors", lora, {})
    write_checkpoint(root / "models" / "checkpoints" / "tiny_sdxl.safetensors", "sdxl")
    return root


def with_lora(strength: float) -> dict[str, Any]:
    graph = dev_example()
    graph["50"] = {
        "class_type": "LoraLoader",
        "inputs": {
            "lora_name": "flux-style.safetensors",
            "strength_model": strength,
            "strength_clip": strength,
            "model": ["12", 0],
            "clip": ["11", 0],
        },
    }
    graph["30"]["inputs"]["model"] = ["50", 0]
    graph["6"]["inputs"]["clip"] = ["50", 1]
    return graph


def render(root: Path, graph: dict[str, Any]) -> Any:
    registry = Registry.discover(plugins=False)
    return Executor(registry, Settings.at(root, threads=1)).run(from_comfy_api(graph, registry))


def test_a_flux_lora_at_strength_0_changes_nothing(home: Path) -> None:
    plain = saved(home, render(home, dev_example()))
    assert torch.equal(saved(home, render(home, with_lora(0.0))), plain)
    assert not torch.equal(saved(home, render(home, with_lora(1.0))), plain)


def test_a_flux_lora_on_sdxl_is_refused_by_name(home: Path) -> None:
    lora = {
        "lora_name": "flux-style.safetensors",
        "strength_model": 1.0,
        "strength_clip": 1.0,
        "model": ["4", 0],
        "clip": ["4", 1],
    }
    sample = {
        "seed": 1,
        "steps": 2,
        "cfg": 7.0,
        "sampler_name": "euler",
        "scheduler": "normal",
        "model": ["50", 0],
        "positive": ["6", 0],
        "negative": ["6", 0],
        "latent_image": ["10", 0],
    }
    graph = {
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "tiny_sdxl.safetensors"},
        },
        "50": {"class_type": "LoraLoader", "inputs": lora},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["50", 1]}},
        "10": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64}},
        "3": {"class_type": "KSampler", "inputs": sample},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0]}},
    }
    result = render(home, graph)
    assert result.status == "failed" and result.error is not None
    assert (result.error.node, result.error.input) == ("50", "lora_name")
    assert "sdxl" in result.error.message and "another model family" in result.error.message


def test_lycoris_loha_and_lokr_on_bfl_fused_layers_equal_merging_into_the_bfl_file(
    tmp_path: Path,
) -> None:
    bfl = transformer_to_bfl(tiny.transformer(True).state_dict())
    g = torch.Generator().manual_seed(3)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * 0.3

    qkv = "double_blocks.0.img_attn.qkv"  # split into to_q, to_k, to_v
    rows, columns = bfl[f"{qkv}.weight"].shape
    w1a, w1b, w2a, w2b = (
        rand(rows, RANK),
        rand(RANK, columns),
        rand(rows, RANK),
        rand(RANK, columns),
    )
    flat = "lora_unet_" + qkv.replace(".", "_")
    lora = {f"{flat}.hada_w1_a": w1a, f"{flat}.hada_w1_b": w1b}
    lora |= {f"{flat}.hada_w2_a": w2a, f"{flat}.hada_w2_b": w2b}
    bfl[f"{qkv}.weight"] = bfl[f"{qkv}.weight"] + (w1a @ w1b) * (w2a @ w2b)
    final = "final_layer.adaLN_modulation.1"  # (shift, scale) rows swapped on the way
    rows, columns = bfl[f"{final}.weight"].shape
    w1, w2 = rand(2, 4), rand(rows // 2, columns // 4)
    flat = "lora_unet_" + final.replace(".", "_")
    lora |= {f"{flat}.lokr_w1": w1, f"{flat}.lokr_w2": w2}
    bfl[f"{final}.weight"] = bfl[f"{final}.weight"] + torch.kron(w1, w2)
    mine = patched_model(lora, tmp_path / "lycoris.safetensors", 1.0)
    expected = tiny.transformer(True)
    expected.load_state_dict(transformer_from_bfl(bfl))
    with torch.no_grad():
        torch.testing.assert_close(mine, forward(expected), atol=1e-5, rtol=1e-5)


def test_a_flux_lora_applies_to_fp8_weights(home: Path) -> None:
    def fp8(graph: dict[str, Any]) -> dict[str, Any]:
        graph["12"]["inputs"]["weight_dtype"] = "fp8_e4m3fn"
        return graph

    plain = render(home, fp8(dev_example()))
    patched = render(home, fp8(with_lora(1.0)))
    assert plain.error is None and patched.error is None
    assert not torch.equal(saved(home, patched), saved(home, plain))
