"""Recognising each Flux file kind from its header, and refusing the wrong kind by name."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from nodes.ops.families.flux import detect as D
from nodes.ops.families.flux import layout as L
from nodes.ops.families.flux.identify import WrongFileError, describe
from nodes.ops.families.sd import layout as SDL
from nodes.ops.weights.checkpoint_io import read_shapes
from tests.flux import files, tiny
from tests.flux.conftest import Written
from tests.sd import tiny as sd_tiny

Shapes = dict[str, tuple[int, ...]]
StateDict = dict[str, torch.Tensor]


def _shapes(state: dict[str, torch.Tensor]) -> Shapes:
    return {k: tuple(v.shape) for k, v in state.items()}


def _sdxl_unet() -> Shapes:
    unet = sd_tiny.unet("sdxl")
    return _shapes(SDL.unet_to_ldm(unet.state_dict(), dict(unet.config), prefix=""))


def _sd_vae() -> Shapes:
    return _shapes(SDL.vae_to_ldm(sd_tiny.vae().state_dict(), prefix=""))


def _clip_g() -> Shapes:
    """A transformers-named CLIP 1280 wide (SD3's clip_g.safetensors), shapes only."""
    return {
        "text_model.embeddings.token_embedding.weight": (49408, 1280),
        "text_model.embeddings.position_embedding.weight": (77, 1280),
        "text_model.encoder.layers.0.self_attn.q_proj.weight": (1280, 1280),
        "text_model.encoder.layers.0.mlp.fc1.weight": (5120, 1280),
    }


def test_bfl_transformer_file_is_recognised(written: Written) -> None:
    found = D.detect_transformer(*read_shapes(written.dev.transformer))
    assert found == D.TransformerWeights("", "bfl", "dev", tiny.transformer_config(True))


def test_dev_and_schnell_are_told_apart(written: Written) -> None:
    schnell = D.detect_transformer(*read_shapes(written.schnell_transformer))
    assert schnell.variant == "schnell" and schnell.config == tiny.transformer_config(False)
    assert D.detect_transformer(*read_shapes(written.dev.transformer)).variant == "dev"


def test_transformer_under_model_diffusion_model_is_recognised() -> None:
    shapes = _shapes(files.transformer_bfl(False, L.TRANSFORMER_PREFIX))
    found = D.detect_transformer(shapes)
    assert (found.prefix, found.layout, found.variant) == (L.TRANSFORMER_PREFIX, "bfl", "schnell")
    assert found.config == tiny.transformer_config(False)


@pytest.mark.parametrize("guidance", [True, False], ids=["dev", "schnell"])
def test_transformer_in_diffusers_layout_is_recognised(guidance: bool) -> None:
    found = D.detect_transformer(_shapes(tiny.transformer(guidance).state_dict()))
    assert (found.prefix, found.layout) == ("", "diffusers")
    assert found.variant == ("dev" if guidance else "schnell")
    assert found.config == tiny.transformer_config(guidance)


def test_t5_file_is_recognised_with_its_config(written: Written) -> None:
    found = D.detect_t5(*read_shapes(written.dev.t5))
    assert (found.kind, found.prefix) == ("t5", "")
    expected = tiny.t5().config
    for key, value in found.config.items():
        assert getattr(expected, key) == value, key


def test_prefixed_t5_file_is_recognised() -> None:
    found = D.detect_t5(_shapes(files.t5_file_state("t5xxl.transformer.")))
    assert found.prefix == "t5xxl.transformer."
    assert found.config["num_heads"] == 4 and found.config["d_kv"] == 8


def test_clip_l_file_is_recognised_with_its_config(written: Written) -> None:
    found = D.detect_clip_l(*read_shapes(written.dev.clip_l))
    assert (found.kind, found.prefix) == ("clip_l", "")
    expected = tiny.clip_l().config
    for key, value in found.config.items():
        assert getattr(expected, key) == value, key


def test_prefixed_and_flat_clip_files_are_recognised() -> None:
    prefixed = _shapes(files.clip_l_file_state("cond_stage_model.transformer."))
    assert D.detect_clip_l(prefixed).prefix == "cond_stage_model.transformer."
    flat = _shapes(tiny.clip_l().state_dict())  # transformers >= 5.6 names, no `text_model.`
    assert D.detect_clip_l(flat).config["num_hidden_layers"] == 2


def test_ae_file_is_recognised_with_its_config(written: Written) -> None:
    found = D.detect_ae(*read_shapes(written.dev.ae))
    assert found.prefix == ""
    assert {k: found.config[k] for k in tiny.VAE_CONFIG} == tiny.VAE_CONFIG


@pytest.mark.parametrize("transformer_form", [True, False], ids=["comfyui", "short"])
def test_all_in_one_parts_are_found_under_their_prefixes(
    tmp_path: Path, transformer_form: bool
) -> None:
    path = files.write_checkpoint(tmp_path, True, transformer_form)
    found = D.detect_checkpoint(*read_shapes(path))
    middle = "transformer." if transformer_form else ""
    assert found.components == {
        "transformer": "model.diffusion_model.",
        "text_encoder": f"text_encoders.clip_l.{middle}",
        "text_encoder_2": f"text_encoders.t5xxl.{middle}",
        "vae": "vae.",
    }
    assert found.complete and found.layout == "single_file"
    assert found.transformer.config == tiny.transformer_config(True)
    keys = list(read_shapes(path)[0])
    assert len(found.keys_of("vae", keys)) == len(tiny.vae().state_dict())


def test_all_in_one_without_some_parts_reports_them_missing() -> None:
    state = files.checkpoint_state(guidance=False)
    shapes = {k: v for k, v in _shapes(state).items() if not k.startswith("text_encoders.t5xxl.")}
    found = D.detect_checkpoint(shapes)
    assert found.t5 is None and found.clip_l is not None and found.ae is not None
    assert not found.complete and found.transformer.variant == "schnell"


def test_diffusers_folder_is_recognised(written: Written) -> None:
    found = D.detect_folder(written.folder)
    assert found.layout == "diffusers" and found.complete
    assert found.components == {
        "transformer": "transformer",
        "text_encoder": "text_encoder",
        "text_encoder_2": "text_encoder_2",
        "vae": "vae",
    }
    assert found.transformer.variant == "dev"
    assert found.transformer.config == tiny.transformer_config(True)
    assert found.ae is not None and found.ae.config["latent_channels"] == 16


def test_folder_of_another_pipeline_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(
        json.dumps({"_class_name": "StableDiffusionXLPipeline"})
    )
    with pytest.raises(WrongFileError, match="a diffusers StableDiffusionXLPipeline folder, not"):
        D.detect_folder(tmp_path)
    with pytest.raises(WrongFileError, match=r"without model_index\.json"):
        D.detect_folder(tmp_path / "nothing")


def _refusal(detector: str, shapes: Shapes) -> str:
    with pytest.raises(WrongFileError) as error:
        getattr(D, detector)(shapes)
    return str(error.value)


def test_sdxl_unet_is_not_a_flux_transformer() -> None:
    message = _refusal("detect_transformer", _sdxl_unet())
    assert message.startswith("this is an SDXL UNet, not a Flux transformer")


def test_text_encoders_are_not_transformers() -> None:
    message = _refusal("detect_transformer", _shapes(files.t5_file_state()))
    assert message == (
        "this is a T5 text encoder, not a Flux transformer; "
        "load it as a text encoder (models/text_encoders)"
    )


def test_transformer_is_not_a_text_encoder() -> None:
    bfl = _shapes(files.transformer_bfl(True))
    assert _refusal("detect_t5", bfl).startswith(
        "this is a Flux.1 dev transformer (BFL layout), not a T5 text encoder; load it as a "
        "diffusion model"
    )
    assert "not a CLIP-L text encoder" in _refusal("detect_clip_l", bfl)


def test_clip_is_not_t5_and_t5_is_not_clip() -> None:
    clip = _shapes(files.clip_l_file_state())
    assert _refusal("detect_t5", clip).startswith("this is a 32-wide CLIP text encoder, not a T5")
    assert _refusal("detect_clip_l", _shapes(files.t5_file_state())).startswith(
        "this is a T5 text encoder, not a CLIP-L text encoder"
    )


def test_clip_g_is_not_clip_l() -> None:
    message = _refusal("detect_clip_l", _clip_g())
    assert message.startswith("this is a CLIP-G text encoder, not a CLIP-L text encoder")


def test_sd_vae_is_not_the_flux_ae() -> None:
    message = _refusal("detect_ae", _sd_vae())
    assert message.startswith("this is a 4-channel VAE (SD1/SD2/SDXL's), not Flux's 16-channel AE")


def test_ae_with_quant_conv_is_not_the_flux_ae() -> None:
    shapes = {**_shapes(files.ae_file_state()), "quant_conv.weight": (32, 32, 1, 1)}
    assert "with quant_conv layers" in _refusal("detect_ae", shapes)


def test_bare_transformer_is_not_an_all_in_one_checkpoint() -> None:
    message = _refusal("detect_checkpoint", _shapes(files.transformer_bfl(True)))
    assert message == (
        "this is a Flux.1 dev transformer (BFL layout), not a Flux all-in-one checkpoint; "
        "load it as a diffusion model (models/diffusion_models)"
    )


def test_lora_is_refused_as_a_lora() -> None:
    lora = {"diffusion_model.double_blocks.0.img_attn.qkv.lora_A.weight": (4, 3072)}
    assert _refusal("detect_transformer", lora).startswith("this is a LoRA, not a Flux transformer")


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (lambda: files.checkpoint_state(), "a Flux.1 dev all-in-one checkpoint"),
        (lambda: tiny.transformer(False).state_dict(), "a Flux.1 schnell transformer (diffusers"),
        (lambda: files.ae_file_state(), "a 16-channel AE"),
        (lambda: {"model.diffusion_model.joint_blocks.0.x.weight": torch.zeros(1)}, "an SD3"),
        (lambda: {}, "an empty file"),
    ],
)
def test_describe_names_the_kind(state: Callable[[], StateDict], name: str) -> None:
    assert describe(_shapes(state())).startswith(name)
