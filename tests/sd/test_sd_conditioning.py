"""Prompts, LoRA and ControlNet through the nodes, on tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image as PILImage
from safetensors.torch import save_file

from engine.executor import Executor
from engine.settings import Settings
from engine.types import Conditioning
from nodes.ops.families.sd.layout import unet_module_map
from tests.sd import graphs, tiny
from tests.sd.graphs import link


def run(executor: Executor, workflow: graphs.Workflow, node: str, output: str) -> object:
    result = executor.run(workflow, targets=[node])
    assert result.status == "success", result.error or result.problems
    return result.values[node][output]


def latent(executor: Executor, workflow: graphs.Workflow) -> torch.Tensor:
    return run(executor, workflow, "sample", "latent").samples  # type: ignore[attr-defined]


def embeds(executor: Executor, workflow: graphs.Workflow, node: str = "pos") -> Conditioning:
    value = run(executor, workflow, node, "conditioning")
    assert isinstance(value, Conditioning)
    return value


def test_long_prompts_are_chunked(sd_executor: Executor) -> None:
    short = embeds(sd_executor, graphs.txt2img(prompt="a cat")).parts[0].embeds
    long = embeds(sd_executor, graphs.txt2img(prompt="a cat " * 60)).parts[0].embeds
    assert short.shape == (1, 77, tiny.WIDTH) and long.shape == (1, 154, tiny.WIDTH)


def test_sdxl_encodes_both_encoders_with_pooled_output(sd_executor: Executor) -> None:
    part = embeds(sd_executor, graphs.txt2img("tiny_sdxl.safetensors")).parts[0]
    assert part.embeds.shape == (1, 77, 2 * tiny.WIDTH) and part.pooled is not None
    sized = graphs.with_node(
        graphs.txt2img("tiny_sdxl.safetensors"),
        "pos",
        "sd.encode_prompt_sdxl",
        clip=link("ckpt", "clip"),
        width=512,
        height=256,
        text_g="a red circle",
        text_l="a red circle",
    )
    assert embeds(sd_executor, sized).parts[0].extras["height"] == 256
    assert not torch.allclose(
        latent(sd_executor, sized), latent(sd_executor, graphs.txt2img("tiny_sdxl.safetensors"))
    )


def test_clip_set_last_layer_changes_the_encoding(sd_executor: Executor) -> None:
    base = graphs.txt2img()
    skipped = graphs.with_node(
        base, "skip", "sd.clip_set_last_layer", clip=link("ckpt", "clip"), stop_at_clip_layer=-2
    )
    skipped = graphs.rewire(skipped, "pos", clip=link("skip", "clip"))
    assert not torch.allclose(
        embeds(sd_executor, base).parts[0].embeds, embeds(sd_executor, skipped).parts[0].embeds
    )


def test_combine_area_and_zero_out(sd_executor: Executor) -> None:
    base = graphs.txt2img(size=128)
    area = graphs.with_node(
        base,
        "area",
        "sd.conditioning_set_area",
        conditioning=link("pos", "conditioning"),
        width=64,
        height=64,
        x=64,
        y=0,
        strength=1.0,
    )
    combined = graphs.with_node(
        area,
        "both",
        "sd.conditioning_combine",
        conditioning_1=link("pos", "conditioning"),
        conditioning_2=link("area", "conditioning"),
    )
    combined = graphs.rewire(combined, "sample", positive=link("both", "conditioning"))
    assert len(embeds(sd_executor, combined, "both").parts) == 2
    assert not torch.allclose(latent(sd_executor, combined), latent(sd_executor, base))
    zero = graphs.with_node(
        base, "zero", "sd.conditioning_zero_out", conditioning=link("neg", "conditioning")
    )
    assert float(embeds(sd_executor, zero, "zero").parts[0].embeds.abs().sum()) == 0.0


def write_lora(path: Path, family: str, ldm_names: bool = False, seed: int = 0) -> None:
    """A kohya-style LoRA for the tiny model: every attention projection, rank 4, plus
    the text encoder's first layer."""
    gen = torch.Generator().manual_seed(seed)
    unet = tiny.unet(family)
    aliases = unet_module_map(dict(unet.config)) if ldm_names else {}
    state: dict[str, torch.Tensor] = {}
    for name, module in unet.named_modules():
        if isinstance(module, torch.nn.Linear) and ".attn" in name:
            flat = "lora_unet_" + aliases.get(name, name).replace(".", "_")
            state[f"{flat}.lora_down.weight"] = torch.randn(4, module.in_features, generator=gen)
            state[f"{flat}.lora_up.weight"] = torch.randn(module.out_features, 4, generator=gen)
            state[f"{flat}.alpha"] = torch.tensor(4.0)
    te = "lora_te1_" if family == "sdxl" else "lora_te_"
    flat = te + "text_model_encoder_layers_0_self_attn_q_proj"
    state[f"{flat}.lora_down.weight"] = torch.randn(4, tiny.WIDTH, generator=gen)
    state[f"{flat}.lora_up.weight"] = torch.randn(tiny.WIDTH, 4, generator=gen)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))


def with_lora(workflow: graphs.Workflow, name: str, model: float, clip: float) -> graphs.Workflow:
    out = graphs.with_node(
        workflow,
        "lora",
        "sd.load_lora",
        model=link("ckpt", "model"),
        clip=link("ckpt", "clip"),
        lora_name=name,
        strength_model=model,
        strength_clip=clip,
    )
    out = graphs.rewire(out, "pos", clip=link("lora", "clip"))
    out = graphs.rewire(out, "neg", clip=link("lora", "clip"))
    return graphs.rewire(out, "sample", model=link("lora", "model"))


@pytest.mark.parametrize(("family", "ldm_names"), [("sd1", False), ("sdxl", True)])
def test_lora_strength(
    sd_executor: Executor, sd_settings: Settings, family: str, ldm_names: bool
) -> None:
    name = f"tiny_{family}_lora.safetensors"
    write_lora(sd_settings.models_dir / "loras" / name, family, ldm_names)
    base = graphs.txt2img(f"tiny_{family}.safetensors")
    plain = latent(sd_executor, base)
    assert torch.equal(latent(sd_executor, with_lora(base, name, 0.0, 0.0)), plain)
    patched = latent(sd_executor, with_lora(base, name, 1.0, 1.0))
    assert not torch.allclose(patched, plain)
    clip_only = embeds(sd_executor, with_lora(base, name, 0.0, 1.0))
    assert not torch.equal(clip_only.parts[0].embeds, embeds(sd_executor, base).parts[0].embeds)
    sd_executor.cache.clear()  # the base weights were restored after the patched runs
    assert torch.equal(latent(sd_executor, base), plain)


def test_lora_for_another_family_is_refused(sd_executor: Executor, sd_settings: Settings) -> None:
    write_lora(sd_settings.models_dir / "loras" / "for_sdxl.safetensors", "sdxl", ldm_names=True)
    result = sd_executor.run(with_lora(graphs.txt2img(), "for_sdxl.safetensors", 1.0, 1.0))
    assert result.error is not None and (result.error.node, result.error.input) == (
        "lora",
        "lora_name",
    )
    assert "made for another model family" in result.error.message


def with_control(workflow: graphs.Workflow, strength: float, settings: Settings) -> graphs.Workflow:
    square = PILImage.new("RGB", (64, 64))
    square.paste((255, 255, 255), (16, 16, 48, 48))
    square.save(settings.input_dir / "square.png")
    out = graphs.with_node(workflow, "hint", "image.load", image="square.png")
    out = graphs.with_node(out, "edges", "image.canny", image=link("hint", "image"))
    out = graphs.with_node(out, "cn", "sd.load_controlnet", control_net_name="tiny_cn.safetensors")
    out = graphs.with_node(
        out,
        "apply",
        "sd.apply_controlnet_advanced",
        positive=link("pos", "conditioning"),
        negative=link("neg", "conditioning"),
        control_net=link("cn", "control_net"),
        image=link("edges", "image"),
        strength=strength,
    )
    return graphs.rewire(
        out, "sample", positive=link("apply", "positive"), negative=link("apply", "negative")
    )


def test_controlnet_strength(sd_executor: Executor, sd_settings: Settings) -> None:
    base = graphs.txt2img()
    plain = latent(sd_executor, base)
    assert torch.equal(latent(sd_executor, with_control(base, 0.0, sd_settings)), plain)
    assert not torch.allclose(latent(sd_executor, with_control(base, 1.0, sd_settings)), plain)


def test_textual_inversion_embedding_takes_the_place_of_tokens(
    sd_executor: Executor, sd_settings: Settings
) -> None:
    from nodes.ops.text.clip_tokenizer import clip_tokenizer

    ids = clip_tokenizer("eos")("tabby cat", add_special_tokens=False)["input_ids"]
    table = tiny.text_encoders("sd1")["clip_l"].get_input_embeddings().weight
    folder = sd_settings.models_dir / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"emb_params": table[ids].detach().clone()}, str(folder / "cat_ti.safetensors"))
    words = embeds(sd_executor, graphs.txt2img(prompt="a photo of a tabby cat, indoors"))
    learned = embeds(sd_executor, graphs.txt2img(prompt="a photo of a embedding:cat_ti, indoors"))
    assert torch.allclose(learned.parts[0].embeds, words.parts[0].embeds, atol=1e-6)
    result = sd_executor.run(graphs.txt2img(prompt="embedding:missing_one"))
    assert result.error is not None and (result.error.node, result.error.input) == ("pos", "text")
    assert "missing_one" in result.error.message
