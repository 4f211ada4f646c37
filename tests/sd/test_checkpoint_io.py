"""Weight files are read without running their code, and broken ones fail clearly."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import nodes.ops.weights.checkpoint_io as io
import nodes.ops.weights.checkpoint_write as writer
from nodes.ops.weights.checkpoint_io import (
    CheckpointError,
    read_shapes,
    read_state_dict,
)
from nodes.ops.weights.checkpoint_write import write_safetensors

WEIGHTS = {
    "a.weight": torch.arange(6.0).reshape(2, 3),
    "b.bias": torch.ones(4, dtype=torch.float16),
}


class Arbitrary:
    """Loading this would mean importing and building an arbitrary class."""

    def __init__(self) -> None:
        self.touched = True


def assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys()
    for name, tensor in want.items():
        assert got[name].dtype == tensor.dtype and torch.equal(got[name], tensor)


def test_safetensors_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    write_safetensors(path, WEIGHTS, {"format": "pt", "note": "hi"})
    tensors, metadata = read_state_dict(path)
    assert_same(tensors, WEIGHTS)
    assert metadata == {"format": "pt", "note": "hi"}
    assert read_shapes(path) == ({"a.weight": (2, 3), "b.bias": (4,)}, metadata)
    sft = tmp_path / "model.sft"
    path.rename(sft)
    assert_same(read_state_dict(sft)[0], WEIGHTS)


def test_write_refuses_overwrite_and_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.safetensors"
    write_safetensors(path, WEIGHTS, {})
    with pytest.raises(FileExistsError):
        write_safetensors(path, {"x": torch.zeros(1)}, {})
    assert_same(read_state_dict(path)[0], WEIGHTS)
    write_safetensors(path, {"x": torch.zeros(1)}, {}, overwrite=True)
    assert list(read_state_dict(path)[0]) == ["x"]
    assert os.listdir(path.parent) == ["out.safetensors"]  # no temp file left behind
    with pytest.raises(TypeError):
        write_safetensors(tmp_path / "bad.safetensors", {"x": torch.zeros(1)}, {"n": 1})  # type: ignore[dict-item]
    assert not (tmp_path / "bad.safetensors").exists()


def test_write_never_replaces_a_file_that_appears_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "race.safetensors"
    real_save = writer.save_file

    def save_then_race(*args: Any, **kwargs: Any) -> None:
        real_save(*args, **kwargs)
        path.write_bytes(b"someone else's")  # lands between our check and our publish

    monkeypatch.setattr(writer, "save_file", save_then_race)
    with pytest.raises(FileExistsError):
        write_safetensors(path, WEIGHTS, {})
    assert path.read_bytes() == b"someone else's"
    assert os.listdir(tmp_path) == ["race.safetensors"]


def test_write_makes_views_and_shared_tensors_storable(tmp_path: Path) -> None:
    base = torch.arange(12.0).reshape(3, 4)
    weights = {"t": base.t(), "same": base, "again": base, "row": base[1]}
    path = tmp_path / "views.safetensors"
    write_safetensors(path, weights, {})
    assert_same(read_state_dict(path)[0], {k: v.contiguous() for k, v in weights.items()})


def test_pickled_checkpoint_unwraps_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "sd2.ckpt"
    torch.save({"state_dict": WEIGHTS, "global_step": 875000, "epoch": 3}, path)
    tensors, metadata = read_state_dict(path)
    assert_same(tensors, WEIGHTS)
    assert metadata == {"global_step": "875000"}
    assert read_shapes(path) == ({"a.weight": (2, 3), "b.bias": (4,)}, metadata)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin"])
def test_plain_pickled_dicts(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"lora{suffix}"
    torch.save({**WEIGHTS, "alpha": 4.0, "name": "x"}, path)  # non-tensors are dropped
    tensors, metadata = read_state_dict(path)
    assert_same(tensors, WEIGHTS)
    assert metadata == {}


def test_legacy_pickle_without_zip(tmp_path: Path) -> None:
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": WEIGHTS}, path, _use_new_zipfile_serialization=False)
    assert_same(read_state_dict(path)[0], WEIGHTS)


def test_lightning_leftovers_are_read_as_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What SD1/SD2 training checkpoints carry besides weights: a callback object, numpy.
    module = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")

    class ModelCheckpoint:
        def __init__(self) -> None:
            self.best_model_score = np.float64(0.25)

    ModelCheckpoint.__module__ = module.__name__
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    module.ModelCheckpoint = ModelCheckpoint  # type: ignore[attr-defined]
    for parent in ("pytorch_lightning", "pytorch_lightning.callbacks"):  # for pickle's import
        monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    path = tmp_path / "sd14.ckpt"
    callbacks = {"ModelCheckpoint": ModelCheckpoint(), "score": np.float64(1.5)}
    torch.save({"state_dict": WEIGHTS, "callbacks": callbacks, "global_step": 470000}, path)
    tensors, metadata = read_state_dict(path)
    assert_same(tensors, WEIGHTS)
    assert metadata == {"global_step": "470000"}


def test_arbitrary_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": WEIGHTS, "payload": Arbitrary()}, path)
    with pytest.raises(CheckpointError, match="arbitrary code") as info:
        read_state_dict(path)
    assert info.value.path == path
    assert "Arbitrary" in str(info.value) and ".safetensors" in str(info.value)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.safetensors", b"", "too short"),
        ("random.safetensors", bytes(range(7, 250)) * 40, "does not fit"),
        ("image.safetensors", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "PNG image"),
        ("page.safetensors", b"<!DOCTYPE html><html>Not found</html>", "HTML"),
        ("json.safetensors", (12).to_bytes(8, "little") + b"[1, 2, 3]   ", "malformed header"),
        ("garbled.safetensors", (12).to_bytes(8, "little") + b"{not json!}  ", "malformed header"),
        ("empty.ckpt", b"", "not a PyTorch checkpoint"),
        ("random.ckpt", bytes(range(7, 250)) * 40, "not a PyTorch checkpoint"),
        ("image.pt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "not a PyTorch checkpoint"),
        ("weights.txt", b"hello", "unknown kind of weight file"),
    ],
)
def test_foreign_files(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    for read in (read_state_dict, read_shapes):
        with pytest.raises(CheckpointError, match=expected) as info:
            read(path)
        assert str(path) in str(info.value) and info.value.path == path


def test_truncated_safetensors(tmp_path: Path) -> None:
    whole = tmp_path / "whole.safetensors"
    save_file(WEIGHTS, str(whole))
    data = whole.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")
    cases = {"header": data[: header_end // 2], "data": data[: header_end + 10]}
    for part, content in cases.items():
        path = tmp_path / f"cut-{part}.safetensors"
        path.write_bytes(content)
        with pytest.raises(CheckpointError, match="truncated") as info:
            read_state_dict(path)
        assert str(path) in str(info.value)
        with pytest.raises(CheckpointError, match="truncated"):
            read_shapes(path)


def test_truncated_pickle(tmp_path: Path) -> None:
    whole = tmp_path / "whole.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, whole)
    path = tmp_path / "cut.ckpt"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated") as info:
        read_state_dict(path)
    assert info.value.path == path


def test_pickle_without_tensors_or_dict(tmp_path: Path) -> None:
    for name, content in {"list.pt": [1, 2], "dict.pt": {"model": {"x": 1}}}.items():
        torch.save(content, tmp_path / name)
        with pytest.raises(CheckpointError):
            read_state_dict(tmp_path / name)


def test_shapes_read_only_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.safetensors"
    save_file({"w": torch.zeros(64, 64)}, str(path), metadata={"k": "v"})
    monkeypatch.setattr(io, "safe_open", None)  # reading tensors would now fail
    assert read_shapes(path) == ({"w": (64, 64)}, {"k": "v"})
    header = json.loads(path.read_bytes()[8 : 8 + int.from_bytes(path.read_bytes()[:8], "little")])
    assert header["w"]["shape"] == [64, 64]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_state_dict(tmp_path / "absent.safetensors")
