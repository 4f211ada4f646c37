from __future__ import annotations

import pytest
import torch

import engine.device
from engine.device import DevicePolicy


def test_picks_the_best_device_available() -> None:
    policy = DevicePolicy()
    if torch.cuda.is_available():
        assert policy.device.type == "cuda" and policy.dtype == torch.float16
    else:
        assert policy.device.type in ("mps", "cpu")
    assert policy.describe()["device"] == str(policy.device)


@pytest.mark.parametrize(("native", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_the_cpu_computes_in_bfloat16_only_where_the_hardware_multiplies_it(
    monkeypatch: pytest.MonkeyPatch, native: bool, expected: torch.dtype
) -> None:
    monkeypatch.setattr(engine.device, "cpu_computes_bf16_natively", lambda: native)
    policy = DevicePolicy("cpu")
    assert policy.dtype == expected and not policy.forced
    assert policy.text_dtype == torch.float32  # a prompt is encoded once: full precision
    assert policy.channels_last == native  # measured: a win in bfloat16, a loss in float32


@pytest.mark.parametrize(("native", "safe"), [(True, torch.bfloat16), (False, torch.float32)])
def test_what_overflows_float16_gets_bfloat16_where_the_device_has_it(
    monkeypatch: pytest.MonkeyPatch, native: bool, safe: torch.dtype
) -> None:
    monkeypatch.setattr(engine.device, "cpu_computes_bf16_natively", lambda: native)
    assert DevicePolicy("cpu", "float16").overflow_safe_dtype == safe


def test_auto_is_the_same_as_not_forcing() -> None:
    assert not DevicePolicy("cpu", "auto").forced
    assert DevicePolicy("cpu", "auto").dtype == DevicePolicy("cpu").dtype


def test_forced_device_and_dtype() -> None:
    policy = DevicePolicy("cpu", "bfloat16")
    assert policy.device == torch.device("cpu") and policy.dtype == torch.bfloat16
    assert policy.forced and policy.text_dtype == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype 'float13'"):
        _ = DevicePolicy("cpu", "float13").dtype


def test_thread_count_is_applied_when_the_device_is_chosen() -> None:
    before = torch.get_num_threads()
    try:
        assert DevicePolicy("cpu", threads=1).device.type == "cpu"
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
