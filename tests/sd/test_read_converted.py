"""Reading a weight file straight into the dtype its model computes in."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nodes.ops.weights.checkpoint_io import CheckpointError, read_tensors
from nodes.ops.weights.checkpoint_write import write_safetensors


@pytest.fixture
def half_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "half.safetensors"
    state = {
        "a.weight": torch.randn(4, 3).half(),
        "b.weight": torch.randn(5).bfloat16(),
        "c.bias": torch.randn(2),
        "ids": torch.arange(7),
        "skipped": torch.randn(3).half(),
    }
    write_safetensors(path, state, {"format": "pt"})
    return path


def _pick(names: list[str]) -> list[str]:
    return [n for n in names if n != "skipped"]


def test_floating_tensors_arrive_converted_exactly_as_a_cast_would(half_file: Path) -> None:
    stored = read_tensors(half_file, _pick)
    converted = read_tensors(half_file, _pick, torch.float32)
    assert sorted(converted) == ["a.weight", "b.weight", "c.bias", "ids"]
    for name, tensor in stored.items():
        if tensor.is_floating_point():
            assert converted[name].dtype == torch.float32
            assert torch.equal(converted[name], tensor.float())
    assert converted["ids"].dtype == torch.int64 and torch.equal(converted["ids"], stored["ids"])


def test_a_file_already_in_the_dtype_is_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "full.safetensors"
    write_safetensors(path, {"w": torch.ones(3)}, {"format": "pt"})
    assert torch.equal(read_tensors(path, list, torch.float32)["w"], torch.ones(3))


def test_truncated_tensor_data_is_refused_by_name(half_file: Path) -> None:
    data = half_file.read_bytes()
    half_file.write_bytes(data[:-4])
    with pytest.raises(CheckpointError):
        read_tensors(half_file, _pick, torch.float32)


def test_convolution_weights_can_arrive_channels_last_with_the_same_values(tmp_path: Path) -> None:
    path = tmp_path / "conv.safetensors"
    conv, bias = torch.randn(8, 4, 3, 3).half(), torch.randn(8).half()
    write_safetensors(path, {"conv.weight": conv, "conv.bias": bias}, {})
    read = read_tensors(path, list, torch.bfloat16, channels_last=True)
    assert read["conv.weight"].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(read["conv.weight"], conv.bfloat16())
    assert torch.equal(read["conv.bias"], bias.bfloat16())


def test_converted_tensors_arrive_on_the_device_they_are_read_for(half_file: Path) -> None:
    # The meta device stands in for a GPU: the same code, nothing held on the host after.
    floats = ["a.weight", "b.weight", "c.bias"]
    read = read_tensors(half_file, lambda _: floats, torch.float32, device="meta")
    assert sorted(read) == floats
    assert all(t.is_meta and t.dtype == torch.float32 for t in read.values())
    assert read["a.weight"].shape == (4, 3)
