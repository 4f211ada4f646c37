from __future__ import annotations

import pytest
import torch

from engine.device import DevicePolicy


def test_picks_the_best_device_available() -> None:
    policy = DevicePolicy()
    if torch.cuda.is_available():
        assert policy.device.type == "cuda" and policy.dtype == torch.float16
    else:
        assert policy.device.type in ("mps", "cpu")
    if policy.device.type == "cpu":
        assert policy.dtype == torch.float32
    assert policy.describe()["device"] == str(policy.device)


def test_forced_device_and_dtype() -> None:
    policy = DevicePolicy("cpu", "bfloat16")
    assert policy.device == torch.device("cpu") and policy.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype 'float13'"):
        _ = DevicePolicy("cpu", "float13").dtype


def test_thread_count_is_applied_when_the_device_is_chosen() -> None:
    before = torch.get_num_threads()
    try:
        assert DevicePolicy("cpu", threads=1).device.type == "cpu"
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
