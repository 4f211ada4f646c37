"""VAE Decode/Encode (Tiled): the tiles' blending, and tiled = whole within tolerance on
the shipped toy model's trained VAE."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.device import DevicePolicy
from engine.model_store import ModelStore
from nodes.ops.families import files
from nodes.ops.pixels import vae as ops
from nodes.ops.pixels.tiled_vae import decode_tiled, encode_tiled, in_tiles, starts
from tests.conftest import REPO
from training.toy_data import all_scenes, draw

TOY = REPO / "models" / "checkpoints" / "diffgraph-toy.safetensors"


@cache
def toy_vae() -> Any:
    _, _, vae = files.load_checkpoint(Path(TOY), ModelStore(), DevicePolicy("cpu"))
    return vae.handle.get()


@cache
def mosaic() -> torch.Tensor:
    """A 256x256 picture: 4x4 of the toy's 64x64 scenes (shapes on plain backgrounds)."""
    tiles = [torch.from_numpy(np.array(draw(s)[0])).float() / 255 for s in all_scenes()[:16]]
    rows = [torch.cat(tiles[r * 4 : (r + 1) * 4], dim=1) for r in range(4)]
    return torch.cat(rows, dim=0)[None]


def test_tiles_cover_the_axis_and_end_flush() -> None:
    assert starts(16, 8, 2) == [0, 6, 8]
    assert starts(8, 8, 2) == [0] and starts(5, 8, 2) == [0]


def test_blending_is_seamless_for_a_local_operation() -> None:
    grid = torch.randn(2, 4, 13, 17)

    def upscale(y: int, x: int, h: int, w: int) -> torch.Tensor:
        return F.interpolate(grid[..., y : y + h, x : x + w], scale_factor=8)

    whole = F.interpolate(grid, scale_factor=8)
    torch.testing.assert_close(in_tiles(13, 17, upscale, 5, 2, 8), whole)


def test_one_tile_is_the_plain_decode() -> None:
    latent = torch.randn(1, 4, 16, 16)
    assert torch.equal(decode_tiled(toy_vae(), latent, 512, 64), ops.decode(toy_vae(), latent))


@pytest.mark.slow
def test_tiled_decode_is_close_to_the_whole_decode() -> None:
    latent = ops.encode(toy_vae(), mosaic())
    whole = ops.decode(toy_vae(), latent)
    tiled = decode_tiled(toy_vae(), latent, 192, 64)  # 4 tiles of 24x24 latent cells
    error = (tiled - whole).abs().mean().item()
    reconstruction = (whole - mosaic()).abs().mean().item()
    # Measured 0.045 (the toy VAE's own reconstruction error is 0.11): tiles see their own
    # group-norm statistics, so close, not equal.
    assert error < 0.06 and error < reconstruction / 2


@pytest.mark.slow
def test_tiled_encode_is_close_to_the_whole_encode() -> None:
    whole = ops.encode(toy_vae(), mosaic())
    tiled = encode_tiled(toy_vae(), mosaic(), 192, 64)
    assert tiled.shape == whole.shape
    relative = ((tiled - whole).abs().mean() / whole.abs().mean()).item()
    assert relative < 0.07  # measured 0.050
