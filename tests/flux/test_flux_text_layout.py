"""CLIP-L and T5 files load into transformers' models and compute what the originals do."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

from nodes.ops.families.flux import detect as D
from nodes.ops.families.flux import layout as L
from nodes.ops.weights.build import fill_model
from nodes.ops.weights.checkpoint_io import read_shapes, read_state_dict
from tests.flux import files, tiny
from tests.flux.conftest import Written

IDS = torch.tensor([[49406, 320, 1125, 539, 320, 2368, 49407]])  # "a photo of a cat", CLIP
T5_IDS = torch.tensor([[3, 9, 1202, 13, 3, 9, 1712, 1]])  # the same, T5


def _clip_from(path: Path) -> CLIPTextModel:
    found = D.detect_clip_l(*read_shapes(path))
    with torch.device("meta"):
        model = CLIPTextModel(CLIPTextConfig(**found.config))
    state, _ = read_state_dict(path)
    return fill_model(model, L.clip_l_from_file(state, model, found.prefix), "CLIP-L", path).eval()


def test_clip_l_file_computes_the_original(written: Written) -> None:
    loaded = _clip_from(written.dev.clip_l)
    with torch.no_grad():
        ours, theirs = loaded(IDS), tiny.clip_l()(IDS)
    assert torch.equal(ours.last_hidden_state, theirs.last_hidden_state)
    assert torch.equal(ours.pooler_output, theirs.pooler_output)


def test_t5_file_computes_the_original(written: Written) -> None:
    found = D.detect_t5(*read_shapes(written.dev.t5))
    with torch.device("meta"):
        model = T5EncoderModel(T5Config(**found.config))
    state, _ = read_state_dict(written.dev.t5)
    fill_model(model, L.t5_from_file(state, found.prefix), "T5", written.dev.t5).eval()
    # One embedding in memory under both names, as in the file.
    assert model.encoder.embed_tokens.weight.data_ptr() == model.shared.weight.data_ptr()
    with torch.no_grad():
        ours = model(input_ids=T5_IDS).last_hidden_state
        theirs = tiny.t5()(input_ids=T5_IDS).last_hidden_state
    assert torch.equal(ours, theirs)


def test_t5_file_holds_the_tied_embedding_once() -> None:
    state = tiny.t5().state_dict()
    written = L.t5_to_file(state, "text_encoders.t5xxl.transformer.")
    assert "text_encoders.t5xxl.transformer.shared.weight" in written
    assert not any(k.endswith("embed_tokens.weight") for k in written)
    back = L.t5_from_file(written, "text_encoders.t5xxl.transformer.")
    assert back.keys() == state.keys()
    assert back["encoder.embed_tokens.weight"] is back["shared.weight"]


def test_clip_l_round_trips_under_the_all_in_one_prefix() -> None:
    model = tiny.clip_l()
    prefix = "text_encoders.clip_l.transformer."
    written = L.clip_l_to_file(model.state_dict(), prefix)
    assert f"{prefix}text_model.embeddings.token_embedding.weight" in written
    back = L.clip_l_from_file({**written, "vae.x": torch.zeros(1)}, model, prefix)
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())
    assert back.keys() == model.state_dict().keys()


def test_clip_l_from_an_all_in_one_file(tmp_path: Path) -> None:
    path = files.write_checkpoint(tmp_path)
    found = D.detect_checkpoint(*read_shapes(path))
    assert found.clip_l is not None
    with torch.device("meta"):
        model = CLIPTextModel(CLIPTextConfig(**found.clip_l.config))
    state, _ = read_state_dict(path)
    fill_model(model, L.clip_l_from_file(state, model, found.clip_l.prefix), "CLIP-L", path).eval()
    with torch.no_grad():
        assert torch.equal(model(IDS).pooler_output, tiny.clip_l()(IDS).pooler_output)
