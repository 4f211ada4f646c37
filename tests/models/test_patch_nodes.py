"""The model patch and merge nodes in workflows, on the tiny checkpoints (tests/sd)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.executor import Executor
from engine.settings import Settings
from formats.load import to_workflow
from nodes.ops.families.sd.saving import save_checkpoint
from tests.sd import graphs
from tests.sd.conftest import port_values
from tests.sd.graphs import link
from tests.sd.test_sd_conditioning import embeds, latent, write_lora


def patched(workflow: graphs.Workflow, node_type: str, **inputs: object) -> graphs.Workflow:
    """The sampler's model passed through one patch node first."""
    out = graphs.with_node(workflow, "patch", node_type, model=link("ckpt", "model"), **inputs)
    return graphs.rewire(out, "sample", model=link("patch", "model"))


@pytest.mark.slow
def test_lora_model_only_changes_the_model_not_the_prompt(
    sd_executor: Executor, sd_settings: Settings
) -> None:
    write_lora(sd_settings.models_dir / "loras" / "l.safetensors", "sd1")
    base = graphs.txt2img()
    plain = latent(sd_executor, base)
    node = "sd.load_lora_model_only"
    assert torch.equal(
        latent(sd_executor, patched(base, node, lora_name="l.safetensors", strength_model=0.0)),
        plain,
    )
    changed = latent(sd_executor, patched(base, node, lora_name="l.safetensors"))
    assert not torch.allclose(changed, plain)
    sd_executor.cache.clear()  # the shared model was restored after use
    assert torch.equal(latent(sd_executor, base), plain)


def test_lora_model_only_for_another_family_names_the_input(
    sd_executor: Executor, sd_settings: Settings
) -> None:
    write_lora(sd_settings.models_dir / "loras" / "xl.safetensors", "sdxl", ldm_names=True)
    flow = patched(graphs.txt2img(), "sd.load_lora_model_only", lora_name="xl.safetensors")
    result = sd_executor.run(flow)
    assert result.error is not None
    assert (result.error.node, result.error.input) == ("patch", "lora_name")


@pytest.mark.slow
def test_freeu_and_rescale_cfg_change_the_picture_and_off_values_do_not(
    sd_executor: Executor,
) -> None:
    base = graphs.txt2img()
    plain = latent(sd_executor, base)
    off = dict(b1=1.0, b2=1.0, s1=1.0, s2=1.0)
    assert torch.equal(latent(sd_executor, patched(base, "sd.freeu_v2", **off)), plain)
    assert not torch.allclose(latent(sd_executor, patched(base, "sd.freeu_v2")), plain)
    assert torch.allclose(
        latent(sd_executor, patched(base, "sd.rescale_cfg", multiplier=0.0)), plain, atol=1e-5
    )
    assert not torch.allclose(latent(sd_executor, patched(base, "sd.rescale_cfg")), plain)


def merge_of(workflow: graphs.Workflow, second: str, ratio: float) -> graphs.Workflow:
    out = graphs.with_node(workflow, "ckpt2", "sd.load_checkpoint", ckpt_name=second)
    out = graphs.with_node(
        out,
        "merge",
        "sd.model_merge_simple",
        model1=link("ckpt", "model"),
        model2=link("ckpt2", "model"),
        ratio=ratio,
    )
    return graphs.rewire(out, "sample", model=link("merge", "model"))


@pytest.fixture(scope="session")
def other_sd1(model_home: Path) -> str:
    """A second SD 1.x checkpoint with other denoiser weights, beside the tiny ones."""
    model, clip, vae, store = port_values("sd1")
    with torch.no_grad():
        for param in model.handle.get().parameters():
            param.add_(torch.randn_like(param) * 0.05)
    name = "other_sd1.safetensors"
    save_checkpoint(model_home / "models" / "checkpoints" / name, model, clip, vae, store)
    return name


@pytest.mark.slow
def test_model_merge_ends_are_the_two_models(sd_executor: Executor, other_sd1: str) -> None:
    base = graphs.txt2img()
    first = latent(sd_executor, base)
    second = latent(sd_executor, graphs.txt2img(other_sd1))
    assert not torch.allclose(first, second)
    assert torch.equal(latent(sd_executor, merge_of(base, other_sd1, 1.0)), first)
    assert torch.equal(latent(sd_executor, merge_of(base, other_sd1, 0.0)), second)
    halfway = latent(sd_executor, merge_of(base, other_sd1, 0.5))
    assert not torch.allclose(halfway, first) and not torch.allclose(halfway, second)
    sd_executor.cache.clear()  # neither shared model was changed
    assert torch.equal(latent(sd_executor, base), first)


@pytest.mark.parametrize(
    ("second", "says"),
    [
        ("tiny_sdxl.safetensors", "a sd1 model and a sdxl model"),
        ("tiny_sd1_inpaint.safetensors", "conv_in.weight"),
    ],
)
def test_model_merge_of_misfits_is_refused_at_model2(
    sd_executor: Executor, second: str, says: str
) -> None:
    result = sd_executor.run(merge_of(graphs.txt2img(), second, 0.5))
    assert result.error is not None
    assert (result.error.node, result.error.input) == ("merge", "model2")
    assert says in str(result.error)


def test_clip_merge_ratio_one_is_the_first_encoder(sd_executor: Executor, other_sd1: str) -> None:
    base = graphs.txt2img()
    out = graphs.with_node(base, "ckpt2", "sd.load_checkpoint", ckpt_name=other_sd1)
    out = graphs.with_node(
        out,
        "cmerge",
        "sd.clip_merge_simple",
        clip1=link("ckpt", "clip"),
        clip2=link("ckpt2", "clip"),
        ratio=1.0,
    )
    out = graphs.rewire(out, "pos", clip=link("cmerge", "clip"))
    assert torch.equal(
        embeds(sd_executor, out).parts[0].embeds, embeds(sd_executor, base).parts[0].embeds
    )


@pytest.mark.slow
def test_tiled_decode_node_runs_under_comfyui_names(sd_executor: Executor) -> None:
    flow = graphs.rewire(graphs.txt2img(size=128), "decode")
    flow.nodes["decode"].type = "sd.vae_decode_tiled"
    flow.nodes["decode"].inputs.update(
        tile_size=64, overlap=32, temporal_size=64, temporal_overlap=8
    )
    result = sd_executor.run(flow, targets=["decode"])
    assert result.status == "success", result.error or result.problems
    assert tuple(result.values["decode"]["image"].pixels.shape) == (1, 128, 128, 3)


def test_comfyui_aliases(sd_executor: Executor) -> None:
    registry = sd_executor.registry
    names = {
        "LoraLoaderModelOnly": "sd.load_lora_model_only",
        "FreeU_V2": "sd.freeu_v2",
        "RescaleCFG": "sd.rescale_cfg",
        "ModelMergeSimple": "sd.model_merge_simple",
        "CLIPMergeSimple": "sd.clip_merge_simple",
        "VAEDecodeTiled": "sd.vae_decode_tiled",
        "VAEEncodeTiled": "sd.vae_encode_tiled",
    }
    assert {c: registry.by_comfy(c).id for c in names} == names


def comfy_prompt(second: str) -> dict[str, object]:
    """A ComfyUI API-format prompt using every node of this pack, as ComfyUI would save it."""
    return {
        "1": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "tiny_sd1.safetensors"},
        },
        "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": second}},
        "3": {
            "class_type": "ModelMergeSimple",
            "inputs": {"model1": ["1", 0], "model2": ["2", 0], "ratio": 0.6},
        },
        "4": {
            "class_type": "CLIPMergeSimple",
            "inputs": {"clip1": ["1", 1], "clip2": ["2", 1], "ratio": 0.6},
        },
        "5": {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {"model": ["3", 0], "lora_name": "l.safetensors", "strength_model": 0.5},
        },
        "6": {
            "class_type": "FreeU_V2",
            "inputs": {"model": ["5", 0], "b1": 1.3, "b2": 1.4, "s1": 0.9, "s2": 0.2},
        },
        "7": {"class_type": "RescaleCFG", "inputs": {"model": ["6", 0], "multiplier": 0.7}},
        "8": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red circle", "clip": ["4", 0]}},
        "9": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 0]}},
        "10": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1},
        },
        "11": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["7", 0],
                "positive": ["8", 0],
                "negative": ["9", 0],
                "latent_image": ["10", 0],
                "seed": 3,
                "steps": 3,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
            },
        },
        "12": {
            "class_type": "VAEDecodeTiled",
            "inputs": {
                "samples": ["11", 0],
                "vae": ["1", 2],
                "tile_size": 64,
                "overlap": 32,
                "temporal_size": 64,
                "temporal_overlap": 8,
            },
        },
        "13": {
            "class_type": "VAEEncodeTiled",
            "inputs": {
                "pixels": ["12", 0],
                "vae": ["1", 2],
                "tile_size": 64,
                "overlap": 32,
                "temporal_size": 64,
                "temporal_overlap": 8,
            },
        },
        "14": {"class_type": "SaveImage", "inputs": {"images": ["12", 0], "filename_prefix": "m"}},
    }


@pytest.mark.slow
def test_a_comfyui_prompt_with_every_node_runs_unchanged(
    sd_executor: Executor, sd_settings: Settings, other_sd1: str
) -> None:
    write_lora(sd_settings.models_dir / "loras" / "l.safetensors", "sd1")
    workflow = to_workflow(comfy_prompt(other_sd1), sd_executor.registry)
    result = sd_executor.run(workflow, targets=["14", "13", "12"])
    assert result.status == "success", result.error or result.problems
    assert tuple(result.values["12"]["image"].pixels.shape) == (1, 64, 64, 3)
    assert tuple(result.values["13"]["latent"].samples.shape) == (1, 4, 8, 8)
