"""Sampling through the nodes: reproducibility, batches, img2img, inpainting, every
sampler and scheduler, and the SDXL base -> refiner hand-off."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from engine.events import Progress
from engine.executor import Executor
from engine.registry import Registry
from engine.settings import Settings
from nodes.sd_sampling import SAMPLER_NAMES, SCHEDULER_NAMES
from tests.sd import graphs
from tests.sd.graphs import link


def latent_of(executor: Executor, workflow: graphs.Workflow, node: str = "sample") -> torch.Tensor:
    result = executor.run(workflow, targets=[node])
    assert result.status == "success", result.error or result.problems
    return result.values[node]["latent"].samples


def test_same_seed_same_bytes(sd_registry: Registry, sd_settings: Settings) -> None:
    pngs = []
    for _ in range(2):
        executor = Executor(sd_registry, sd_settings)  # nothing shared between the runs
        result = executor.run(graphs.txt2img(seed=11))
        item = result.ui["save"]["images"][0]
        pngs.append((sd_settings.output_dir / item["filename"]).read_bytes())
    assert pngs[0] == pngs[1]


def test_batch_item_equals_single_render_with_its_seed(sd_executor: Executor) -> None:
    batch = latent_of(sd_executor, graphs.txt2img(seed=100, batch=3))
    single = latent_of(sd_executor, graphs.txt2img(seed=102))
    assert not torch.allclose(batch[0], batch[2])
    # Batched and single UNet passes may round differently; the noise is identical.
    assert torch.allclose(batch[2], single[0], rtol=1e-3, atol=1e-3)


def test_latent_from_batch_rerenders_one_image(sd_executor: Executor) -> None:
    batch = latent_of(sd_executor, graphs.txt2img(seed=5, batch=3))
    picked = graphs.with_node(
        graphs.txt2img(seed=5, batch=3),
        "pick",
        "sd.latent_from_batch",
        samples=link("empty", "latent"),
        batch_index=1,
        length=1,
    )
    picked = graphs.rewire(picked, "sample", latent_image=link("pick", "latent"))
    assert torch.allclose(latent_of(sd_executor, picked)[0], batch[1], rtol=1e-3, atol=1e-3)


def img2img(settings: Settings, denoise: float, mask: bool = False) -> graphs.Workflow:
    rng = np.random.default_rng(0)
    rgba = (rng.random((64, 64, 4)) * 255).astype(np.uint8)
    rgba[..., 3] = 255
    if mask:
        rgba[16:48, 16:48, 3] = 0  # the transparent square is what gets repainted
    PILImage.fromarray(rgba, "RGBA").save(settings.input_dir / "source.png")
    workflow = graphs.with_node(
        graphs.txt2img(denoise=denoise), "load", "image.load", image="source.png"
    )
    if mask:
        encode = (
            "sd.vae_encode_inpaint",
            {
                "pixels": link("load", "image"),
                "vae": link("ckpt", "vae"),
                "mask": link("load", "mask"),
                "grow_mask_by": 0,
            },
        )
    else:
        encode = ("sd.vae_encode", {"pixels": link("load", "image"), "vae": link("ckpt", "vae")})
    workflow = graphs.with_node(workflow, "encode", encode[0], **encode[1])
    return graphs.rewire(workflow, "sample", latent_image=link("encode", "latent"))


def test_denoise_zero_returns_the_input(sd_executor: Executor, sd_settings: Settings) -> None:
    workflow = img2img(sd_settings, denoise=0.0)
    encoded = latent_of(sd_executor, workflow, "encode")
    assert torch.equal(latent_of(sd_executor, workflow), encoded)
    changed = latent_of(sd_executor, graphs.rewire(workflow, "sample", denoise=0.5))
    assert not torch.allclose(changed, encoded)


def test_inpaint_mask_keeps_the_unmasked_region(
    sd_executor: Executor, sd_settings: Settings
) -> None:
    workflow = img2img(sd_settings, denoise=1.0, mask=True)
    encoded = latent_of(sd_executor, workflow, "encode")
    out = latent_of(sd_executor, workflow)
    inside = (slice(None), slice(None), slice(2, 6), slice(2, 6))  # the 32x32 px square
    keep = torch.ones_like(out, dtype=torch.bool)
    keep[inside] = False
    assert torch.equal(out[keep], encoded[keep])
    assert not torch.allclose(out[inside], encoded[inside])
    # a 9-channel inpainting model takes the same graph
    inpaint_model = graphs.rewire(workflow, "ckpt", ckpt_name="tiny_sd1_inpaint.safetensors")
    out9 = latent_of(sd_executor, inpaint_model)
    assert torch.equal(out9[keep], latent_of(sd_executor, inpaint_model, "encode")[keep])


# Every sampler with every scheduler is checked on the exact Gaussian model
# (tests/sd/test_samplers.py); here each name goes once through the nodes and a real UNet.
PAIRS = [(name, SCHEDULER_NAMES[i % len(SCHEDULER_NAMES)]) for i, name in enumerate(SAMPLER_NAMES)]


@pytest.mark.parametrize(("sampler", "scheduler"), PAIRS)
def test_every_sampler_and_scheduler_in_a_graph(
    sd_executor: Executor, sampler: str, scheduler: str
) -> None:
    workflow = graphs.txt2img(sampler=sampler, scheduler=scheduler, steps=3, size=32)
    out = latent_of(sd_executor, workflow)
    assert torch.isfinite(out).all(), (sampler, scheduler)


@pytest.mark.parametrize("missing", ["dpm_fast", "sa_solver", "no_such_sampler"])
def test_a_sampler_we_lack_is_refused_at_validation_naming_those_we_have(
    sd_executor: Executor, missing: str
) -> None:
    result = sd_executor.run(graphs.txt2img(sampler=missing))
    assert result.status == "invalid"
    [problem] = result.problems
    assert (problem.node, problem.input, problem.code) == (
        "sample",
        "sampler_name",
        "value_not_in_choices",
    )
    assert repr(missing) in problem.message
    assert all(repr(name) in problem.message for name in SAMPLER_NAMES)


def test_progress_reports_each_step_with_a_preview(sd_executor: Executor) -> None:
    events: list[Progress] = []
    sd_executor.run(
        graphs.txt2img(steps=5), listener=lambda e: isinstance(e, Progress) and events.append(e)
    )  # type: ignore[func-returns-value]
    assert [(e.node, e.step, e.total) for e in events] == [("sample", i, 5) for i in range(1, 6)]
    assert events[0].preview is not None and events[0].preview.pixels.shape[-1] == 3


def advanced(start: int, end: int, add_noise: str, leftover: str, **kw: object) -> dict:
    return {
        "add_noise": add_noise,
        "noise_seed": 7,
        "steps": 6,
        "cfg": 7.0,
        "sampler_name": "euler",
        "scheduler": "karras",
        "start_at_step": start,
        "end_at_step": end,
        "return_with_leftover_noise": leftover,
        **kw,
    }


def test_split_sampling_equals_one_pass_and_hands_over_to_a_refiner(
    sd_executor: Executor,
) -> None:
    base = graphs.txt2img("tiny_sdxl.safetensors")
    common = {
        "model": link("ckpt", "model"),
        "positive": link("pos", "conditioning"),
        "negative": link("neg", "conditioning"),
    }
    whole = graphs.with_node(
        base,
        "sample",
        "sd.sample_advanced",
        **common,
        latent_image=link("empty", "latent"),
        **advanced(0, 6, "enable", "disable"),
    )
    first = graphs.with_node(
        base,
        "sample",
        "sd.sample_advanced",
        **common,
        latent_image=link("empty", "latent"),
        **advanced(0, 3, "enable", "enable"),
    )
    split = graphs.with_node(
        first,
        "second",
        "sd.sample_advanced",
        **common,
        latent_image=link("sample", "latent"),
        **advanced(3, 6, "disable", "disable"),
    )
    one_pass = latent_of(sd_executor, whole)
    two_pass = latent_of(sd_executor, split, "second")
    assert torch.allclose(one_pass, two_pass, rtol=1e-3, atol=1e-3)
    # the refiner continues the base's noisy latent with its own model and prompt
    refiner = graphs.with_node(
        split, "rckpt", "sd.load_checkpoint", ckpt_name="tiny_sdxl_refiner.safetensors"
    )
    refiner = graphs.with_node(
        refiner,
        "rpos",
        "sd.encode_prompt_refiner",
        text="a red circle",
        clip=link("rckpt", "clip"),
        ascore=6.0,
    )
    refiner = graphs.with_node(
        refiner, "rneg", "sd.encode_prompt_refiner", text="", clip=link("rckpt", "clip"), ascore=2.5
    )
    refiner = graphs.rewire(
        refiner,
        "second",
        model=link("rckpt", "model"),
        positive=link("rpos", "conditioning"),
        negative=link("rneg", "conditioning"),
    )
    refined = latent_of(sd_executor, refiner, "second")
    assert torch.isfinite(refined).all() and not torch.allclose(refined, two_pass)
