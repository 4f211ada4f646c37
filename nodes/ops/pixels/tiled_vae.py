"""VAE encode and decode in overlapping tiles (VAE Decode/Encode (Tiled)): peak memory
follows the tile size instead of the image size, for pictures too large to pass whole.

Tiles are laid on the latent grid (so pixel tiles start on multiples of the VAE's
factor), the last one in each row and column flush with the edge. Where tiles overlap,
each is weighted by a linear ramp across the overlap, so seams fade instead of cut. The
network's group norms and mid-block attention see one tile at a time, so the result is
close to, not equal to, a whole pass; an image that fits one tile is decoded whole.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine.context import check_interrupt
from nodes.ops.pixels.vae import CHUNK, scale_factor
from nodes.ops.weights.precision import input_placement

# (top, left, height, width) of a tile in latent cells -> its output [B, C, h', w'].
Tile = Callable[[int, int, int, int], torch.Tensor]


def starts(size: int, tile: int, overlap: int) -> list[int]:
    """Where tiles of `tile` cells begin along an axis of `size`, overlapping by at least
    `overlap`, the last flush with the end."""
    if size <= tile:
        return [0]
    stride = max(1, tile - overlap)
    points = list(range(0, size - tile, stride))
    return [*points, size - tile]


def ramp(length: int, overlap: int, before: bool, after: bool) -> torch.Tensor:
    """Weights along one tile axis: rising over `overlap` from a neighbour before, falling
    towards one after, 1 elsewhere (never 0, so every position is covered)."""
    weights = torch.ones(length)
    if overlap <= 0:
        return weights
    rise = (torch.arange(length, dtype=torch.float32) + 0.5) / overlap
    if before:
        weights = torch.minimum(weights, rise)
    if after:
        weights = torch.minimum(weights, rise.flip(0))
    return weights.clamp_max(1.0)


def in_tiles(
    height: int, width: int, run: Tile, tile: int, overlap: int, scale: int
) -> torch.Tensor:
    """`run` over overlapping tiles of a `height` x `width` latent grid (tile and overlap
    in its cells), blended into one output with `scale` output cells per grid cell."""
    tile_h, tile_w = min(tile, height), min(tile, width)
    out: torch.Tensor | None = None
    total = torch.zeros(height * scale, width * scale)
    for y in starts(height, tile_h, overlap):
        for x in starts(width, tile_w, overlap):
            check_interrupt()
            piece = run(y, x, tile_h, tile_w).to("cpu", torch.float32)
            rows = ramp(tile_h * scale, overlap * scale, y > 0, y + tile_h < height)
            cols = ramp(tile_w * scale, overlap * scale, x > 0, x + tile_w < width)
            weight = rows[:, None] * cols[None, :]
            if out is None:
                out = torch.zeros(*piece.shape[:2], height * scale, width * scale)
            window = (
                slice(y * scale, (y + tile_h) * scale),
                slice(x * scale, (x + tile_w) * scale),
            )
            out[..., window[0], window[1]] += piece * weight
            total[window] += weight
    assert out is not None  # a grid has at least one tile
    return out / total


def _cells(tile_size: int, overlap: int, factor: int) -> tuple[int, int]:
    """Tile and overlap in latent cells; the overlap kept under a quarter of the tile, as
    ComfyUI does, so tiles always advance."""
    if tile_size < overlap * 4:
        overlap = tile_size // 4
    return max(1, tile_size // factor), overlap // factor


def _whole(vae: object) -> None:
    if hasattr(vae, "disable_tiling"):  # diffusers' own tiling would tile our tiles
        vae.disable_tiling()


@torch.inference_mode()
def decode_tiled(vae: object, latents: torch.Tensor, tile_size: int, overlap: int) -> torch.Tensor:
    """Latents [B, C, h, w] -> pixels [B, 8h, 8w, 3] in [0, 1], `tile_size` pixels a tile."""
    device, dtype = input_placement(vae)
    factor = scale_factor(vae)
    tile, cells = _cells(tile_size, overlap, factor)
    _whole(vae)

    def run_chunk(z: torch.Tensor) -> torch.Tensor:
        def run(y: int, x: int, h: int, w: int) -> torch.Tensor:
            piece = z[..., y : y + h, x : x + w].to(device, dtype)
            return vae.decode(piece, return_dict=False)[0]  # type: ignore[attr-defined]

        return in_tiles(z.shape[-2], z.shape[-1], run, tile, cells, factor)

    pixels = torch.cat([run_chunk(chunk) for chunk in latents.split(CHUNK)])
    return ((pixels + 1.0) / 2.0).clamp(0.0, 1.0).movedim(1, -1)


@torch.inference_mode()
def encode_tiled(vae: object, pixels: torch.Tensor, tile_size: int, overlap: int) -> torch.Tensor:
    """Pixels [B, H, W, 3] in [0, 1] -> raw latents (the mean), `tile_size` pixels a tile.
    Sizes are cropped to a multiple of the VAE's factor, as VAE Encode does."""
    factor = scale_factor(vae)
    h, w = pixels.shape[1] // factor * factor, pixels.shape[2] // factor * factor
    if h == 0 or w == 0:
        raise ValueError(f"the image is smaller than {factor}x{factor} pixels")
    device, dtype = input_placement(vae)
    tile, cells = _cells(tile_size, overlap, factor)
    _whole(vae)

    def run_chunk(images: torch.Tensor) -> torch.Tensor:
        def run(y: int, x: int, th: int, tw: int) -> torch.Tensor:
            rows, cols = slice(y * factor, (y + th) * factor), slice(x * factor, (x + tw) * factor)
            piece = images[:, rows, cols, :3].movedim(-1, 1) * 2.0 - 1.0
            dist = vae.encode(piece.to(device, dtype), return_dict=False)[0]  # type: ignore[attr-defined]
            return dist.mean

        return in_tiles(h // factor, w // factor, run, tile, cells, 1)

    return torch.cat([run_chunk(chunk) for chunk in pixels[:, :h, :w].split(CHUNK)])
