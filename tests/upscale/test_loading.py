"""Upscale model files: the architecture and scale are read from the weights, in every
layout the published files use, and the loaded network computes what the original does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nodes.ops.upscale.loading import network_from_file
from nodes.ops.upscale.rrdb import RRDBNet
from nodes.ops.weights.checkpoint_io import CheckpointError
from tests.upscale.files import (
    old_esrgan_names,
    save_pth,
    save_safetensors,
    tiny_compact,
    tiny_rrdb,
    tiny_swinir,
    weights,
)

LATER_ESRGAN_NAMES = (
    ("conv_body.", "trunk_conv."),
    ("body.", "RRDB_trunk."),
    (".rdb", ".RDB"),
    ("conv_up", "upconv"),
    ("conv_hr.", "HRconv."),
)
IMAGE = torch.rand(1, 3, 19, 23)  # odd sides: unshuffling and windows need padding


def same_output(original: nn.Module, loaded: nn.Module) -> bool:
    with torch.no_grad():
        return torch.equal(original(IMAGE), loaded(IMAGE))


@pytest.mark.parametrize("scale", [4, 2, 1])
def test_rrdb_params_ema_pth_gives_its_scale_and_output(tmp_path: Path, scale: int) -> None:
    original = tiny_rrdb(scale)
    loaded, spec = network_from_file(save_pth(tmp_path / "x.pth", weights(original)))
    assert (spec.arch, spec.scale) == ("rrdb", scale)
    assert loaded(IMAGE).shape == (1, 3, 19 * scale, 23 * scale)
    assert same_output(original, loaded)


def test_realesrgan_x2_is_told_by_its_unshuffled_input(tmp_path: Path) -> None:
    state = weights(tiny_rrdb(2))
    assert state["conv_first.weight"].shape[1] == 12  # 3 channels x 2 x 2
    _, spec = network_from_file(save_safetensors(tmp_path / "x2.safetensors", state))
    assert spec.scale == 2 and spec.options["unshuffle"] == 2


def test_rrdb_in_the_original_esrgan_layout_loads_as_the_basicsr_one(tmp_path: Path) -> None:
    original = tiny_rrdb(4)
    old = old_esrgan_names(weights(original))
    assert "model.1.sub.0.RDB1.conv1.0.weight" in old and "model.10.weight" in old
    loaded, spec = network_from_file(save_pth(tmp_path / "old.pth", old, wrapper=None))
    assert (spec.arch, spec.scale, spec.options["blocks"]) == ("rrdb", 4, 2)
    assert same_output(original, loaded)


def test_an_old_layout_x2_rrdb_has_one_upsampling(tmp_path: Path) -> None:
    torch.manual_seed(2)
    original = RRDBNet(features=8, growth=4, blocks=1, upsamples=1).eval()
    old = old_esrgan_names(weights(original), scale=2)
    assert "model.7.weight" in old and "model.10.weight" not in old
    loaded, spec = network_from_file(save_pth(tmp_path / "2x_old.pth", old, wrapper=None))
    assert (spec.scale, spec.options["upsamples"]) == (2, 1)
    assert same_output(original, loaded)


def test_compact_scale_comes_from_its_last_convolution(tmp_path: Path) -> None:
    for scale in (4, 2):
        original = tiny_compact(scale)
        path = save_pth(tmp_path / f"compact{scale}.pth", weights(original), wrapper="params")
        loaded, spec = network_from_file(path)
        assert (spec.arch, spec.scale, spec.options["convs"]) == ("compact", scale, 3)
        assert same_output(original, loaded)


def test_swinir_real_world_sr_hyperparameters_are_read_from_the_keys(tmp_path: Path) -> None:
    original = tiny_swinir("nearest+conv", 4)
    loaded, spec = network_from_file(save_pth(tmp_path / "swinir.pth", weights(original)))
    assert spec.arch == "swinir" and spec.scale == 4
    options = spec.options
    assert (options["embed_dim"], options["depths"], options["heads"]) == (12, [2, 2], [2, 3])
    assert (options["window"], options["upsampler"], options["mlp_ratio"]) == (
        8,
        "nearest+conv",
        2.0,
    )
    assert same_output(original, loaded)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_swinir_classical_sr_scale_comes_from_its_upsampler(tmp_path: Path, scale: int) -> None:
    original = tiny_swinir("pixelshuffle", scale)
    path = save_safetensors(tmp_path / "classical.safetensors", weights(original))
    loaded, spec = network_from_file(path)
    assert (spec.scale, spec.options["upsampler"]) == (scale, "pixelshuffle")
    assert loaded(IMAGE).shape == (1, 3, 19 * scale, 23 * scale)
    assert same_output(original, loaded)


def test_swinir_saved_masks_are_ignored_and_missing_indices_computed(tmp_path: Path) -> None:
    original = tiny_swinir("nearest+conv", 4)
    state = weights(original)
    state["layers.0.residual_group.blocks.1.attn_mask"] = torch.zeros(64, 64, 64)  # 64px crops
    del state["layers.1.residual_group.blocks.0.attn.relative_position_index"]
    loaded, _ = network_from_file(save_pth(tmp_path / "swinir.pth", state))
    assert same_output(original, loaded)


def test_half_precision_files_load_in_float32(tmp_path: Path) -> None:
    state = {k: v.half() for k, v in weights(tiny_compact()).items()}
    loaded, _ = network_from_file(save_safetensors(tmp_path / "fp16.safetensors", state))
    assert next(loaded.parameters()).dtype == torch.float32


def test_unknown_weights_are_refused_naming_the_file_and_the_layouts_read(tmp_path: Path) -> None:
    path = save_safetensors(tmp_path / "mystery.safetensors", {"encoder.w": torch.zeros(2, 2)})
    with pytest.raises(CheckpointError) as refused:
        network_from_file(path)
    message = str(refused.value)
    assert "mystery.safetensors" in message and "encoder.w" in message
    for layout in ("ESRGAN", "Real-ESRGAN Compact", "SwinIR"):
        assert layout in message


def test_weights_missing_a_layer_are_refused_naming_it(tmp_path: Path) -> None:
    state = weights(tiny_rrdb(4))
    del state["conv_hr.bias"]
    with pytest.raises(CheckpointError, match=r"rrdb x4 but has missing \['conv_hr.bias'\]"):
        network_from_file(save_pth(tmp_path / "cut.pth", state))


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"params_ema": weights(tiny_compact()), "opt": Path("/")}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pth: refused"):
        network_from_file(path)


def test_rrdb_in_the_esrgan_repository_later_names_loads(tmp_path: Path) -> None:
    original = tiny_rrdb(4)
    later = {}
    for key, value in weights(original).items():
        for basicsr, esrgan in LATER_ESRGAN_NAMES:
            key = key.replace(basicsr, esrgan)
        later[key] = value
    assert {"RRDB_trunk.0.RDB1.conv1.weight", "trunk_conv.bias", "HRconv.weight"} <= set(later)
    loaded, spec = network_from_file(save_pth(tmp_path / "RRDB_ESRGAN_x4.pth", later, None))
    assert (spec.arch, spec.scale) == ("rrdb", 4)
    assert same_output(original, loaded)


def test_swinir_in_bfloat16_stays_close_to_float32() -> None:
    # What a GPU computes SwinIR in (float16 is not safe for it); bfloat16 runs on the CPU too.
    network = tiny_swinir("nearest+conv", 4)
    with torch.no_grad():
        full = network(IMAGE)
        half = network.to(torch.bfloat16)(IMAGE.bfloat16()).float()
    assert float((full - half).abs().max()) < 0.02
