"""Prompt text through the nodes: A1111 embedding files, weights and CLIP Set Last Layer
past the encoder's depth, on the tiny checkpoints."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from engine.executor import Executor
from engine.settings import Settings
from engine.types import Conditioning
from nodes.ops.text.clip_tokenizer import clip_tokenizer
from tests.sd import graphs, tiny
from tests.sd.graphs import link


def embeds(executor: Executor, workflow: graphs.Workflow) -> torch.Tensor:
    result = executor.run(workflow, targets=["pos"])
    assert result.status == "success", result.error or result.problems
    value = result.values["pos"]["conditioning"]
    assert isinstance(value, Conditioning)
    return value.parts[0].embeds


def write_tabby_cat(settings: Settings, name: str) -> None:
    """An embedding whose vectors are the token vectors of "tabby cat", as A1111 writes
    it (.pt) or as its safetensors export does."""
    ids = clip_tokenizer("eos")("tabby cat", add_special_tokens=False)["input_ids"]
    table = tiny.text_encoders("sd1")["clip_l"].get_input_embeddings().weight
    vectors = table[ids].detach().clone()
    folder = settings.models_dir / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    if name.endswith(".pt"):
        data = {
            "string_to_token": {"*": 265},
            "string_to_param": {"*": vectors.requires_grad_(True)},
            "name": "cat_ti",
            "step": 500,
            "sd_checkpoint": None,
            "sd_checkpoint_name": None,
        }
        torch.save(data, folder / name)
    else:
        save_file({"emb_params": vectors}, str(folder / name))


@pytest.mark.parametrize("file_name", ["cat_ti.pt", "cat_ti.safetensors"])
def test_an_a1111_embedding_stands_for_its_words(
    sd_executor: Executor, sd_settings: Settings, file_name: str
) -> None:
    write_tabby_cat(sd_settings, file_name)
    words = embeds(sd_executor, graphs.txt2img(prompt="a photo of a tabby cat, indoors"))
    learned = embeds(sd_executor, graphs.txt2img(prompt="a photo of a embedding:cat_ti, indoors"))
    torch.testing.assert_close(learned, words, atol=1e-6, rtol=0)


def test_a_weighted_embedding_is_weighted_like_its_words(
    sd_executor: Executor, sd_settings: Settings
) -> None:
    write_tabby_cat(sd_settings, "cat_ti.pt")
    words = embeds(sd_executor, graphs.txt2img(prompt="a photo of a (tabby cat:1.3), indoors"))
    prompt = "a photo of a (embedding:cat_ti:1.3), indoors"
    torch.testing.assert_close(
        embeds(sd_executor, graphs.txt2img(prompt=prompt)), words, atol=1e-5, rtol=0
    )


def test_an_embedding_needing_code_to_load_is_refused_at_the_text_input(
    sd_executor: Executor, sd_settings: Settings
) -> None:
    folder = sd_settings.models_dir / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"string_to_param": torch.nn.Linear(tiny.WIDTH, 1)}, folder / "old.pt")
    result = sd_executor.run(graphs.txt2img(prompt="a embedding:old cat"))
    assert result.error is not None
    assert (result.error.node, result.error.input) == ("pos", "text")
    assert "old.pt" in result.error.message and "refuses" in result.error.message


def with_last_layer(layer: int, family: str = "sd1") -> graphs.Workflow:
    base = graphs.txt2img(f"tiny_{family}.safetensors")
    skipped = graphs.with_node(
        base, "skip", "sd.clip_set_last_layer", clip=link("ckpt", "clip"), stop_at_clip_layer=layer
    )
    return graphs.rewire(skipped, "pos", clip=link("skip", "clip"))


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_clip_set_last_layer_past_the_depth_reads_the_last_layer(
    sd_executor: Executor, family: str
) -> None:
    # The tiny encoders have 3 layers: -4 and -24 are past them; ComfyUI then reads the last.
    deepest = embeds(sd_executor, with_last_layer(-24, family))
    assert torch.equal(deepest, embeds(sd_executor, with_last_layer(-4, family)))
    assert not torch.equal(deepest, embeds(sd_executor, with_last_layer(-3, family)))
