"""What precision a loaded checkpoint's weights are held and computed in (issue 18): a half
file computing in float32 keeps its weights half and widens each layer as it runs, with the
results of float32 weights; a bfloat16 CPU computes in bfloat16; a forced `--dtype` holds
the weights in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import engine.device
from engine.device import DevicePolicy
from engine.model_store import ModelStore
from nodes.ops.families.sd.loading import load_checkpoint
from nodes.ops.weights.precision import compute_dtype_of, compute_in, weights_dtype
from tests.sd.conftest import write_checkpoint

F16, BF16, F32 = torch.float16, torch.bfloat16, torch.float32


def half_checkpoint(path: Path, family: str = "sd1") -> Path:
    """A tiny checkpoint stored in float16, as most published files are."""
    full = write_checkpoint(path.with_name("full.safetensors"), family)
    with safe_open(str(full), "pt") as file:
        metadata = file.metadata()
        tensors = {k: file.get_tensor(k) for k in file.keys()}  # noqa: SIM118
    half = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    save_file(half, str(path), metadata)
    return path


def cpu(bf16: bool, monkeypatch: pytest.MonkeyPatch, dtype: str | None = None) -> DevicePolicy:
    monkeypatch.setattr(engine.device, "cpu_computes_bf16_natively", lambda: bf16)
    return DevicePolicy("cpu", dtype)


def unet_out(unet: torch.nn.Module) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 8, 8, generator=generator)
    context = torch.randn(1, 77, 32, generator=generator)
    dtype = compute_dtype_of(unet)
    with torch.inference_mode():
        out = unet(x.to(dtype), torch.tensor([10.0]), context.to(dtype), return_dict=False)
    return out[0].float()


@pytest.fixture(scope="module")
def half(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return half_checkpoint(tmp_path_factory.mktemp("half") / "half.safetensors")


def loaded(path: Path, devices: DevicePolicy) -> tuple[Any, Any, Any]:
    """The UNet, text encoders and VAE of `path` as the loader places them."""
    model, clip, vae = load_checkpoint(path, ModelStore(), devices)
    return model.handle.get(), clip.handle.get(), vae.handle.get()


def test_a_half_file_computing_in_float32_keeps_its_weights_half(
    half: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unet, clip, vae = loaded(half, cpu(False, monkeypatch))
    assert compute_dtype_of(unet) == F32 and unet.conv_in.weight.dtype == F16
    assert unet.down_blocks[0].resnets[0].norm1.weight.dtype == F32  # small: widened once
    assert compute_dtype_of(vae) == F32
    assert all(p.dtype in (F16, F32) for p in clip.parameters())


def test_widening_per_layer_gives_exactly_the_results_of_float32_weights(
    half: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held, _, _ = loaded(half, cpu(False, monkeypatch))
    wide, _, _ = loaded(half, cpu(False, monkeypatch, "float32"))
    assert wide.conv_in.weight.dtype == F32  # forced: held in what it computes in
    assert torch.equal(unet_out(held), unet_out(wide))
    assert held.conv_in.weight.dtype == F16  # put back after the call


def test_a_bf16_cpu_computes_the_unet_in_bfloat16_and_prompts_in_float32(
    half: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unet, clip, _ = loaded(half, cpu(True, monkeypatch))
    assert compute_dtype_of(unet) == BF16 and unet.conv_in.weight.dtype == BF16
    assert unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert compute_dtype_of(clip.encoders[0].model) == F32
    reference, _, _ = loaded(half, cpu(False, monkeypatch, "float32"))
    torch.testing.assert_close(unet_out(unet), unet_out(reference), atol=0.05, rtol=0.05)


def test_what_weights_are_held_in() -> None:
    assert weights_dtype(F16, F32, forced=False) == F16  # widened per layer
    assert weights_dtype(BF16, F32, forced=False) == BF16
    assert weights_dtype(F16, F32, forced=True) == F32  # the user chose float32
    assert weights_dtype(F16, BF16, forced=False) == BF16  # same size: converted as read
    assert weights_dtype(F32, BF16, forced=False) == BF16
    assert weights_dtype(None, F32, forced=False) == F32  # a pickle: not known before reading


def test_widening_a_layer_twice_adds_no_second_hook() -> None:
    layer = torch.nn.Linear(4, 4).half()
    compute_in(compute_in(layer, F32), F32)
    assert len(layer._forward_pre_hooks) == 1
    assert layer(torch.ones(1, 4)).dtype == F32 and layer.weight.dtype == F16
