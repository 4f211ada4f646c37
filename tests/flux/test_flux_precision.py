"""Flux's parts in the precision the CPU computes in (issue 18): a bfloat16 file computing in
float32 keeps its weights bfloat16, widened per layer with the results of float32 weights;
fp8 stays fp8; the AE no longer runs in float32 where bfloat16 has the range."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import engine.device
from engine.device import DevicePolicy
from engine.model_store import ModelStore
from nodes.ops.families.flux.loading import ae_dtype, load_transformer
from nodes.ops.weights.checkpoint_write import write_safetensors
from nodes.ops.weights.precision import compute_dtype_of
from tests.flux import files, tiny


def bf16_transformer(tmp_path: Path) -> Path:
    state = {k: v.bfloat16() for k, v in files.transformer_bfl(True).items()}
    path = tmp_path / "flux1-tiny-bf16.safetensors"
    write_safetensors(path, state, files.metadata(True, "transformer"))
    return path


def cpu_without_bf16(monkeypatch: pytest.MonkeyPatch, dtype: str | None = None) -> DevicePolicy:
    monkeypatch.setattr(engine.device, "cpu_computes_bf16_natively", lambda: False)
    return DevicePolicy("cpu", dtype)


def output(transformer: Any) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    dtype, tokens = compute_dtype_of(transformer), 4
    with torch.inference_mode():
        out = transformer(
            hidden_states=torch.randn(1, tokens, 64, generator=g).to(dtype),
            encoder_hidden_states=torch.randn(1, 3, tiny.T5_WIDTH, generator=g).to(dtype),
            pooled_projections=torch.randn(1, tiny.CLIP_WIDTH, generator=g).to(dtype),
            timestep=torch.tensor([0.5], dtype=dtype),
            img_ids=torch.zeros(tokens, 3, dtype=dtype),
            txt_ids=torch.zeros(3, 3, dtype=dtype),
            guidance=torch.tensor([3.5], dtype=dtype),
            return_dict=False,
        )
    return out[0].float()


def test_a_bf16_transformer_computing_in_float32_stays_bf16_with_float32_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = bf16_transformer(tmp_path)
    held = load_transformer(path, ModelStore(), cpu_without_bf16(monkeypatch)).handle.get()
    wide = load_transformer(path, ModelStore(), cpu_without_bf16(monkeypatch, "float32"))
    assert compute_dtype_of(held) == torch.float32
    assert held.x_embedder.weight.dtype == torch.bfloat16
    assert wide.handle.get().x_embedder.weight.dtype == torch.float32
    assert torch.equal(output(held), output(wide.handle.get()))


def test_fp8_asked_for_stays_fp8_whatever_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = bf16_transformer(tmp_path)
    model = load_transformer(path, ModelStore(), cpu_without_bf16(monkeypatch), "fp8_e4m3fn")
    assert model.handle.get().x_embedder.weight.dtype == torch.float8_e4m3fn


@pytest.mark.parametrize(("native", "safe"), [(True, torch.bfloat16), (False, torch.float32)])
def test_the_ae_leaves_float16_only_where_it_would_overflow(
    monkeypatch: pytest.MonkeyPatch, native: bool, safe: torch.dtype
) -> None:
    monkeypatch.setattr(engine.device, "cpu_computes_bf16_natively", lambda: native)
    config = {"force_upcast": True}
    assert ae_dtype(config, DevicePolicy("cpu", "float16")) == safe
    assert ae_dtype(config, DevicePolicy("cpu", "bfloat16")) == torch.bfloat16
    assert ae_dtype({"force_upcast": False}, DevicePolicy("cpu", "float16")) == torch.float16
