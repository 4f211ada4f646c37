"""Flux end to end through the nodes, from the files users have, in ComfyUI's own API format
(its Flux examples' graphs): the pictures equal diffusers' FluxPipeline's from the same
tiny models, prompt, seed, size and steps. One layout loads the same image as another."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline
from PIL import Image

from engine.executor import Executor, RunResult
from engine.registry import Registry
from engine.settings import Settings
from formats.comfy_api import from_comfy_api
from nodes.flux import flux_shift
from nodes.ops.families.flux.call import pack
from nodes.ops.sampling.sample import BatchNoise
from nodes.ops.sampling.schedules import FlowSchedule, get_sigmas_simple
from nodes.ops.text.clip_tokenizer import clip_tokenizer
from nodes.ops.text.t5_tokenizer import t5_tokenizer
from tests.flux import tiny
from tests.flux.conftest import Written

PROMPT = "a photo of a cat"
SIZE, STEPS, SEED = 64, 4, 42
TOLERANCE = 1e-4  # max abs difference of 8-bit pixels / 255 beyond the PNG's own rounding


def dev_example(unet: str = "flux1-tiny-dev.safetensors", **changes: Any) -> dict[str, Any]:
    """ComfyUI's Flux dev example graph (split files, custom sampler), in its API format."""
    graph: dict[str, Any] = {
        "10": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}},
        "11": {
            "class_type": "DualCLIPLoader",
            "inputs": {
                "clip_name1": "t5xxl_tiny.safetensors",
                "clip_name2": "clip_l.safetensors",
                "type": "flux",
                "device": "default",
            },
        },
        "12": {
            "class_type": "UNETLoader",
            "inputs": {"unet_name": unet, "weight_dtype": "default"},
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["11", 0]}},
        "26": {"class_type": "FluxGuidance", "inputs": {"guidance": 3.5, "conditioning": ["6", 0]}},
        "30": {
            "class_type": "ModelSamplingFlux",
            "inputs": {
                "max_shift": 1.15,
                "base_shift": 0.5,
                "width": SIZE,
                "height": SIZE,
                "model": ["12", 0],
            },
        },
        "22": {
            "class_type": "BasicGuider",
            "inputs": {"model": ["30", 0], "conditioning": ["26", 0]},
        },
        "25": {"class_type": "RandomNoise", "inputs": {"noise_seed": SEED}},
        "16": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "17": {
            "class_type": "BasicScheduler",
            "inputs": {"scheduler": "simple", "steps": STEPS, "denoise": 1.0, "model": ["30", 0]},
        },
        "27": {
            "class_type": "EmptySD3LatentImage",
            "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1},
        },
        "13": {
            "class_type": "SamplerCustomAdvanced",
            "inputs": {
                "noise": ["25", 0],
                "guider": ["22", 0],
                "sampler": ["16", 0],
                "sigmas": ["17", 0],
                "latent_image": ["27", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["13", 0], "vae": ["10", 0]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "flux", "images": ["8", 0]}},
    }
    for key, value in changes.items():
        node, name = key.split("__")
        graph[node]["inputs"][name] = value
    return graph


def checkpoint_example(ckpt: str, steps: int = STEPS, cfg: float = 1.0) -> dict[str, Any]:
    """ComfyUI's all-in-one Flux example: Load Checkpoint and KSampler."""
    return {
        "30": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["30", 1]}},
        "33": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["30", 1]}},
        "27": {
            "class_type": "EmptySD3LatentImage",
            "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1},
        },
        "31": {
            "class_type": "KSampler",
            "inputs": {
                "seed": SEED,
                "steps": steps,
                "cfg": cfg,
                "sampler_name": "euler",
                "scheduler": "simple",
                "denoise": 1.0,
                "model": ["30", 0],
                "positive": ["6", 0],
                "negative": ["33", 0],
                "latent_image": ["27", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["31", 0], "vae": ["30", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "flux", "images": ["8", 0]}},
    }


def run(root: Path, graph: dict[str, Any]) -> RunResult:
    """Run in float32: these compare with FluxPipeline in float32, not precisions."""
    registry = Registry.discover(plugins=False)
    settings = Settings.at(root, threads=1, dtype="float32")
    return Executor(registry, settings).run(from_comfy_api(graph, registry))


def saved(root: Path, result: RunResult) -> torch.Tensor:
    assert result.status == "success", result.error or result.problems
    image = result.ui["9"]["images"][0]
    with Image.open(root / "output" / image["filename"]) as png:
        return torch.from_numpy(np.array(png)).float() / 255


def pipeline_image(guidance: bool, sigmas: torch.Tensor) -> torch.Tensor:
    """FluxPipeline on the same tiny models, stepping through exactly these sigmas."""
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=False, shift=1.0)
    pipe = FluxPipeline(
        scheduler,
        tiny.vae(),
        tiny.clip_l(),
        clip_tokenizer("eos"),
        tiny.t5(),
        t5_tokenizer(),
        tiny.transformer(guidance),
    )
    out = run_flux_pipeline(pipe, sigmas)
    # As Save Image stores it: 8-bit.
    return (out[0].movedim(0, -1).clamp(0, 1) * 255).round() / 255


def run_flux_pipeline(
    pipe: FluxPipeline, sigmas: torch.Tensor, size: int = SIZE, prompt: str = PROMPT
) -> torch.Tensor:
    """FluxPipeline from our noise for SEED (packed as it packs), stepping through `sigmas`
    (its scheduler adds the final 0): images [B, 3, H, W] in [0, 1]."""
    noise = BatchNoise(SEED, torch.Size([1, 16, size // 8, size // 8]), [0]).draw()
    images: torch.Tensor = pipe(
        prompt,
        latents=pack(noise),
        height=size,
        width=size,
        sigmas=sigmas[:-1].tolist(),
        guidance_scale=3.5,
        max_sequence_length=256,
        output_type="pt",
    ).images
    return images


def flow_sigmas(shift: float, kind: str) -> torch.Tensor:
    return get_sigmas_simple(FlowSchedule(shift, kind), STEPS)


def close(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def test_comfyuis_flux_dev_example_on_split_files_equals_flux_pipeline(written: Written) -> None:
    root = written.dev.transformer.parents[2]
    mine = saved(root, run(root, dev_example()))
    mu = flux_shift(SIZE, SIZE, 0.5, 1.15)
    reference = pipeline_image(True, flow_sigmas(mu, "exponential"))
    assert mine.shape == (SIZE, SIZE, 3)
    assert close(mine, reference) <= 1 / 255 + TOLERANCE  # at most one 8-bit level apart
    assert float(reference.std()) > 0.02


def test_the_all_in_one_checkpoint_with_ksampler_equals_flux_pipeline(written: Written) -> None:
    root = written.checkpoint.parents[2]
    mine = saved(root, run(root, checkpoint_example(written.checkpoint.name)))
    reference = pipeline_image(True, flow_sigmas(1.15, "exponential"))  # dev's own shift
    assert close(mine, reference) <= 1 / 255 + TOLERANCE


def test_schnell_samples_unshifted_without_guidance(written: Written) -> None:
    root = written.schnell_transformer.parents[2]
    graph = dev_example(unet=written.schnell_transformer.name)
    graph["17"]["inputs"]["model"] = ["12", 0]  # no ModelSamplingFlux: schnell's own sigmas
    graph["22"]["inputs"]["model"] = ["12", 0]
    mine = saved(root, run(root, graph))
    assert close(mine, pipeline_image(False, flow_sigmas(1.0, "linear"))) <= 1 / 255 + TOLERANCE


def test_a_diffusers_folder_loads_as_the_same_model(written: Written, tmp_path: Path) -> None:
    root = tmp_path / "home"
    shutil.copytree(written.folder, root / "models" / "checkpoints" / written.folder.name)
    from_folder = saved(root, run(root, checkpoint_example(written.folder.name)))
    base = written.checkpoint.parents[2]
    from_file = saved(base, run(base, checkpoint_example(written.checkpoint.name)))
    assert close(from_folder, from_file) <= 1 / 255


def test_fp8_weights_load_and_sample_close_to_full_precision(written: Written) -> None:
    root = written.dev.transformer.parents[2]
    full = saved(root, run(root, dev_example()))
    fp8 = saved(root, run(root, dev_example(**{"12__weight_dtype": "fp8_e4m3fn"})))
    assert fp8.shape == full.shape
    assert 0 < close(fp8, full) < 0.5  # stored in 8 bits: close, not equal


def test_img2img_at_denoise_0_returns_the_input_latent(written: Written) -> None:
    root = written.dev.transformer.parents[2]
    graph = dev_example(**{"17__denoise": 0.0})
    graph["1"] = {
        "class_type": "EmptyImage",
        "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1, "color": 0x3366CC},
    }
    graph["2"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0], "vae": ["10", 0]}}
    graph["13"]["inputs"]["latent_image"] = ["2", 0]
    registry = Registry.discover(plugins=False)
    executor = Executor(registry, Settings.at(root, threads=1))
    result = executor.run(from_comfy_api(graph, registry), targets=["13", "2"])
    assert result.status == "success", result.error
    encoded = result.values["2"]["latent"].samples
    assert encoded.shape == (1, 16, SIZE // 8, SIZE // 8)
    assert torch.equal(result.values["13"]["output"].samples, encoded)


def test_sampling_reports_each_step_with_a_16_channel_preview(written: Written) -> None:
    from engine.events import Progress

    root = written.dev.transformer.parents[2]
    registry = Registry.discover(plugins=False)
    seen: list[Progress] = []
    executor = Executor(registry, Settings.at(root, threads=1))
    workflow = from_comfy_api(dev_example(), registry)
    result = executor.run(
        workflow, listener=lambda e: seen.append(e) if isinstance(e, Progress) else None
    )
    assert result.status == "success"
    assert [p.step for p in seen] == list(range(1, STEPS + 1))
    previews = [p.preview for p in seen if p.preview is not None]
    assert len(previews) == STEPS
    pixels = previews[-1].pixels
    assert pixels.shape[-1] == 3 and pixels.shape[1] == pixels.shape[2] >= SIZE // 8
    assert float(pixels.min()) >= 0.0 and float(pixels.max()) <= 1.0
    assert float(pixels.std()) > 0.0  # the latent's colours, not the grey of an unknown space


def test_t5_keeps_its_float32_modules_in_half_precision(written: Written) -> None:
    from engine.device import DevicePolicy
    from engine.model_store import ModelStore
    from nodes.ops.families.flux import loading

    devices = DevicePolicy("cpu", dtype="bfloat16")
    clip = loading.load_text_encoders((written.dev.t5, written.dev.clip_l), ModelStore(), devices)
    t5 = clip.handle.get().encoders[1].model
    dtypes = {name: p.dtype for name, p in t5.named_parameters()}
    assert all(d == torch.float32 for n, d in dtypes.items() if ".wo." in n)
    assert all(d == torch.bfloat16 for n, d in dtypes.items() if ".wo." not in n)
    transformer = loading.load_transformer(written.dev.transformer, ModelStore(), devices)
    assert {p.dtype for p in transformer.handle.get().parameters()} == {torch.bfloat16}
