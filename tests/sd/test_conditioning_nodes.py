"""The conditioning nodes ComfyUI users reach for (average, concat, mask, timestep range,
inpaint model conditioning), through the executor on tiny checkpoints."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage

from engine.executor import Executor
from engine.settings import Settings
from engine.types import Conditioning
from tests.sd import graphs, tiny
from tests.sd.graphs import link


def values(executor: Executor, workflow: graphs.Workflow, node: str) -> dict[str, Any]:
    result = executor.run(workflow, targets=[node])
    assert result.status == "success", result.error or result.problems
    return result.values[node]


def embeds_of(executor: Executor, workflow: graphs.Workflow, node: str) -> torch.Tensor:
    conditioning = values(executor, workflow, node)["conditioning"]
    assert isinstance(conditioning, Conditioning)
    return conditioning.parts[0].embeds


def two_prompts(**extra_node: Any) -> graphs.Workflow:
    """txt2img with a second prompt "other" ("a blue square") and, if given, one more node."""
    workflow = graphs.with_node(
        graphs.txt2img(),
        "other",
        "sd.encode_prompt",
        text="a blue square",
        clip=link("ckpt", "clip"),
    )
    for node_id, (type_id, inputs) in extra_node.items():
        workflow = graphs.with_node(workflow, node_id, type_id, **inputs)
    return workflow


def average(strength: float) -> graphs.Workflow:
    inputs = {
        "conditioning_to": link("pos", "conditioning"),
        "conditioning_from": link("other", "conditioning"),
        "conditioning_to_strength": strength,
    }
    return two_prompts(avg=("sd.conditioning_average", inputs))


def test_average_blends_the_embeddings_by_strength(sd_executor: Executor) -> None:
    to = embeds_of(sd_executor, average(1.0), "pos")
    source = embeds_of(sd_executor, average(1.0), "other")
    assert torch.equal(embeds_of(sd_executor, average(1.0), "avg"), to)
    torch.testing.assert_close(embeds_of(sd_executor, average(0.0), "avg"), source)
    torch.testing.assert_close(
        embeds_of(sd_executor, average(0.25), "avg"), 0.25 * to + 0.75 * source
    )


def test_concat_appends_the_second_prompts_tokens(sd_executor: Executor) -> None:
    inputs = {
        "conditioning_to": link("pos", "conditioning"),
        "conditioning_from": link("other", "conditioning"),
    }
    workflow = two_prompts(cat=("sd.conditioning_concat", inputs))
    joined = embeds_of(sd_executor, workflow, "cat")
    assert joined.shape == (1, 154, tiny.WIDTH)
    assert torch.equal(joined[:, :77], embeds_of(sd_executor, workflow, "pos"))
    assert torch.equal(joined[:, 77:], embeds_of(sd_executor, workflow, "other"))


def test_average_of_prompts_from_other_encoders_names_the_input(sd_executor: Executor) -> None:
    workflow = average(0.5)
    workflow = graphs.with_node(
        workflow, "xl", "sd.load_checkpoint", ckpt_name="tiny_sdxl.safetensors"
    )
    workflow = graphs.rewire(workflow, "other", clip=link("xl", "clip"))
    result = sd_executor.run(workflow, targets=["avg"])
    assert result.status == "failed" and result.error is not None
    assert (result.error.node, result.error.input) == ("avg", "conditioning_from")
    assert "different text encoders" in result.error.message


def sampled(executor: Executor, workflow: graphs.Workflow) -> torch.Tensor:
    return values(executor, workflow, "sample")["latent"].samples


def test_a_prompt_whose_timestep_range_is_empty_changes_nothing(sd_executor: Executor) -> None:
    ranged = ("sd.conditioning_set_timestep_range", {"conditioning": link("other", "conditioning")})
    combine = (
        "sd.conditioning_combine",
        {
            "conditioning_1": link("pos", "conditioning"),
            "conditioning_2": link("range", "conditioning"),
        },
    )
    workflow = two_prompts(range=ranged, both=combine)
    workflow = graphs.rewire(workflow, "sample", positive=link("both", "conditioning"))
    alone = sampled(sd_executor, graphs.txt2img())
    never = graphs.rewire(workflow, "range", start=1.0, end=1.0)
    torch.testing.assert_close(sampled(sd_executor, never), alone, atol=1e-4, rtol=1e-4)
    always = graphs.rewire(workflow, "range", start=0.0, end=1.0)
    assert not torch.allclose(sampled(sd_executor, always), alone, atol=1e-3)


def square_picture(settings: Settings) -> None:
    """source.png: random pixels with a transparent 32x32 square (the area to repaint)."""
    rgba = (np.random.default_rng(0).random((64, 64, 4)) * 255).astype(np.uint8)
    rgba[..., 3] = 255
    rgba[16:48, 16:48, 3] = 0
    PILImage.fromarray(rgba, "RGBA").save(settings.input_dir / "source.png")


def inpaint_workflow(settings: Settings, noise_mask: bool = True) -> graphs.Workflow:
    square_picture(settings)
    workflow = graphs.with_node(
        graphs.txt2img("tiny_sd1_inpaint.safetensors"), "load", "image.load", image="source.png"
    )
    workflow = graphs.with_node(
        workflow,
        "inpaint",
        "sd.inpaint_model_conditioning",
        positive=link("pos", "conditioning"),
        negative=link("neg", "conditioning"),
        vae=link("ckpt", "vae"),
        pixels=link("load", "image"),
        mask=link("load", "mask"),
        noise_mask=noise_mask,
    )
    workflow = graphs.with_node(
        workflow,
        "greyed",
        "sd.vae_encode_inpaint",
        pixels=link("load", "image"),
        vae=link("ckpt", "vae"),
        mask=link("load", "mask"),
        grow_mask_by=0,
    )
    return graphs.rewire(
        workflow,
        "sample",
        positive=link("inpaint", "positive"),
        negative=link("inpaint", "negative"),
        latent_image=link("inpaint", "latent"),
    )


def test_inpaint_model_sees_the_mask_and_the_greyed_image(
    sd_executor: Executor, sd_settings: Settings
) -> None:
    workflow = inpaint_workflow(sd_settings)
    unet = values(sd_executor, workflow, "ckpt")["model"].handle.get()
    seen: list[torch.Tensor] = []
    hook = unet.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    try:
        sampled(sd_executor, workflow)
    finally:
        hook.remove()
    mask = torch.zeros(8, 8)
    mask[2:6, 2:6] = 1.0  # the 32x32 px square, in latent cells
    greyed = values(sd_executor, workflow, "greyed")["latent"].samples * 0.18215
    for model_in in seen:
        assert model_in.shape[1] == 9
        assert torch.equal(model_in[0, 4], mask)
        expected = greyed.to(model_in.dtype)  # in the dtype the UNet computes in
        torch.testing.assert_close(model_in[:1, 5:], expected, atol=1e-5, rtol=1e-5)


def test_inpaint_model_conditioning_keeps_the_unmasked_latent(
    sd_executor: Executor, sd_settings: Settings
) -> None:
    workflow = inpaint_workflow(sd_settings)
    latent = values(sd_executor, workflow, "inpaint")["latent"]
    assert latent.noise_mask is not None and latent.noise_mask.shape == (1, 1, 64, 64)
    out = sampled(sd_executor, workflow)
    keep = torch.ones_like(out, dtype=torch.bool)
    keep[..., 2:6, 2:6] = False
    assert torch.equal(out[keep], latent.samples[keep])
    assert not torch.allclose(out[~keep], latent.samples[~keep])
    free = inpaint_workflow(sd_settings, noise_mask=False)
    assert values(sd_executor, free, "inpaint")["latent"].noise_mask is None
