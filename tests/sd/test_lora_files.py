"""LoRA files in the key namings current trainers write reach the layers they name, and a
file that does not fit is refused or reported with its name, a count and an example key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.executor import Executor
from engine.settings import Settings
from nodes.ops.families.patches import add_model_lora, unet_in_use
from nodes.ops.weights.checkpoint_io import CheckpointError
from tests.sd import graphs
from tests.sd.conftest import port_values
from tests.sd.lora_files import LINEAR, Applied, State, kohya, randn, save, weights
from tests.sd.test_sd_conditioning import with_lora

RANK = 4
XL_ATTN = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"  # (64, 64)
XL_OUT = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0"
Q_PROJ = "encoder.layers.0.self_attn.q_proj"  # CLIP-L as transformers 5 builds it
Q_PROJ_G = "text_model.encoder.layers.0.self_attn.q_proj"  # OpenCLIP-G (with projection)


def pair(name: str, rows: int, columns: int, down: str, up: str, seed: int) -> State:
    return {
        f"{name}{down}": randn(RANK, columns, seed=seed),
        f"{name}{up}": randn(rows, RANK, seed=seed + 1),
    }


def kohya_pair(name: str, rows: int, columns: int, seed: int) -> State:
    return pair(name, rows, columns, ".lora_down.weight", ".lora_up.weight", seed)


def peft_pair(name: str, rows: int, columns: int, seed: int) -> State:
    return pair(name, rows, columns, ".lora_A.weight", ".lora_B.weight", seed)


def product(state: State, name: str) -> torch.Tensor:
    ups = [v for k, v in state.items() if k.startswith(name) and ("up" in k or "lora_B" in k)]
    downs = [v for k, v in state.items() if k.startswith(name) and ("down" in k or "lora_A" in k)]
    return ups[0] @ downs[0]


def test_kohya_sdxl_names_reach_the_unet_and_both_text_encoders(tmp_path: Path) -> None:
    te = "text_model_encoder_layers_0_self_attn_q_proj"
    state = {
        **kohya_pair(kohya(XL_ATTN, "sdxl"), 64, 64, 1),
        **kohya_pair(f"lora_te1_{te}", 32, 32, 3),
        **kohya_pair(f"lora_te2_{te}", 32, 32, 5),
    }
    applied = Applied("sdxl", save(state, tmp_path))
    close = torch.testing.assert_close
    close(applied.unet_change(XL_ATTN), product(state, kohya(XL_ATTN, "sdxl")))
    close(applied.clip_change(0, f"{Q_PROJ}.weight"), product(state, f"lora_te1_{te}"))
    close(applied.clip_change(1, f"{Q_PROJ_G}.weight"), product(state, f"lora_te2_{te}"))


def test_peft_and_ai_toolkit_names_reach_the_unet_and_both_text_encoders(
    tmp_path: Path,
) -> None:
    te = "text_model.encoder.layers.0.self_attn.q_proj"
    state = {
        **peft_pair(f"unet.{XL_ATTN}", 64, 64, 1),
        **peft_pair(f"text_encoder.{te}", 32, 32, 3),
        **peft_pair(f"text_encoder_2.{te}", 32, 32, 5),
    }
    applied = Applied("sdxl", save(state, tmp_path))
    close = torch.testing.assert_close
    close(applied.unet_change(XL_ATTN), product(state, f"unet.{XL_ATTN}"))
    close(applied.clip_change(0, f"{Q_PROJ}.weight"), product(state, f"text_encoder.{te}"))
    close(applied.clip_change(1, f"{Q_PROJ_G}.weight"), product(state, f"text_encoder_2.{te}"))


@pytest.mark.parametrize(
    ("name", "down", "up", "layer"),
    [
        (f"unet.{XL_ATTN}", ".lora.down.weight", ".lora.up.weight", XL_ATTN),
        (XL_ATTN, ".lora_A.weight", ".lora_B.weight", XL_ATTN),  # no prefix at all
        (f"base_model.model.{XL_ATTN}", ".lora_A.weight", ".lora_B.weight", XL_ATTN),
        (f"unet.{XL_ATTN}", ".lora_A.default.weight", ".lora_B.default.weight", XL_ATTN),
        (
            "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.processor.to_out",
            "_lora.down.weight",
            "_lora.up.weight",
            XL_OUT,
        ),
        (
            "diffusion_model.input_blocks.3.1.transformer_blocks.0.attn1.to_q",
            ".lora_down.weight",
            ".lora_up.weight",
            XL_ATTN,
        ),
    ],
)
def test_other_diffusers_peft_and_comfyui_namings_reach_their_layer(
    tmp_path: Path, name: str, down: str, up: str, layer: str
) -> None:
    state = pair(name, 64, 64, down, up, 7)
    applied = Applied("sdxl", save(state, tmp_path))
    assert applied.changed() == {f"{layer}.weight"}
    torch.testing.assert_close(applied.unet_change(layer), product(state, name))


def test_a_partly_matching_file_applies_what_fits_and_reports_the_rest(tmp_path: Path) -> None:
    state = {
        **kohya_pair(kohya(LINEAR), 32, 32, 1),
        **kohya_pair("lora_unet_input_blocks_99_1_proj_in", 32, 32, 3),
        "lora_unet_x.oft_blocks": torch.zeros(2, 2),
    }
    said: list[str] = []
    applied = Applied("sd1", save(state, tmp_path, "partial.safetensors"), warn=said.append)
    assert applied.changed() == {f"{LINEAR}.weight"}
    assert len(said) == 1
    assert "partial.safetensors" in said[0]
    assert "1 of its 2 layers matched no layer" in said[0]
    assert "lora_unet_input_blocks_99_1_proj_in.lora_" in said[0]
    assert "1 keys are of no LoRA format we read (e.g. 'lora_unet_x.oft_blocks')" in said[0]


def test_a_file_matching_nothing_is_refused_with_a_count_and_an_example_key(
    tmp_path: Path,
) -> None:
    state = {
        **kohya_pair("lora_unet_single_blocks_0_linear1", 32, 32, 1),
        **kohya_pair("lora_unet_single_blocks_1_linear1", 32, 32, 3),
    }
    with pytest.raises(CheckpointError) as refused:
        Applied("sd1", save(state, tmp_path, "flux_only.safetensors"))
    message = str(refused.value)
    assert "flux_only.safetensors" in message
    assert "none of its 2 layers matched" in message
    assert "'lora_unet_single_blocks_0_linear1.lora_" in message


def test_a_file_of_no_lora_format_is_refused_naming_a_key(tmp_path: Path) -> None:
    state = {"lora_unet_x.oft_blocks": torch.zeros(2, 2), "lora_unet_x.oft_alpha": torch.ones(1)}
    with pytest.raises(CheckpointError, match=r"not a LoRA: none of its 2 keys .*oft_"):
        Applied("sd1", save(state, tmp_path))


def test_a_model_only_lora_leaves_text_encoder_layers_out_without_a_warning(
    tmp_path: Path,
) -> None:
    state = {
        **kohya_pair(kohya(LINEAR), 32, 32, 1),
        **kohya_pair("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 32, 32, 3),
    }
    model, _, _, store = port_values("sd1")
    before = weights(model.handle.get())[f"{LINEAR}.weight"]
    said: list[str] = []
    patched = add_model_lora(save(state, tmp_path), model, 0.5, store, warn=said.append)
    assert said == []
    with unet_in_use(patched, store) as unet:
        during = weights(unet)[f"{LINEAR}.weight"]
    torch.testing.assert_close(during - before, 0.5 * product(state, kohya(LINEAR)))


def test_load_lora_shows_what_it_did_not_apply_in_its_output(
    sd_executor: Executor, sd_settings: Settings
) -> None:
    state = {
        **kohya_pair(kohya(LINEAR), 32, 32, 1),
        **kohya_pair("lora_unet_input_blocks_99_1_proj_in", 32, 32, 3),
    }
    save(state, sd_settings.models_dir / "loras", "partial_node.safetensors")
    workflow = with_lora(graphs.txt2img(), "partial_node.safetensors", 1.0, 1.0)
    result = sd_executor.run(workflow, targets=["lora"])
    assert result.error is None
    (warning,) = result.ui["lora"]["warnings"]
    assert "partial_node.safetensors: 1 of its 2 layers matched no layer" in warning


def test_a_text_encoder_only_lora_given_to_a_model_only_loader_says_so(tmp_path: Path) -> None:
    state = kohya_pair("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 32, 32, 1)
    model, _, _, store = port_values("sd1")
    with pytest.raises(CheckpointError, match="all 1 layers of this LoRA are for the text"):
        add_model_lora(save(state, tmp_path), model, 1.0, store)
