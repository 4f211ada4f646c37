"""Running an upscale network over an image in tiles: any image size fits in memory, the
overlapping tile borders are blended so no seam shows, and when a tile is still too large
for the device the whole image starts again in tiles of half the side.

A network is any callable from [1, 3, h, w] to [1, 3, h * scale, w * scale]; the loaded
modules are, and so is a test's wrapper that fails above some size.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from engine.context import check_interrupt

TILE = 512  # input pixels per tile side
OVERLAP = 32  # input pixels shared by neighbouring tiles, blended across
MIN_TILE = 64  # below this, tiles cost more in borders than they save in memory
FAINT = 1e-6  # the weight of a tile's cut border: not 0, so no sum of weights is ever 0

Network = Callable[[torch.Tensor], torch.Tensor]
OnTile = Callable[[int, int], None]  # (tiles done, tiles in all)


class UpscaleOutOfMemory(RuntimeError):
    """Not even the smallest tiles fit on the device."""


def is_out_of_memory(error: BaseException) -> bool:
    """A device's allocation failure (CUDA, MPS: "out of memory"; the CPU allocator:
    "can't allocate memory"), not any other RuntimeError."""
    message = str(error).lower()
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError)
        and ("out of memory" in message or "can't allocate memory" in message)
    )


def upscale(
    network: Network,
    pixels: torch.Tensor,
    scale: int,
    *,
    tile: int = TILE,
    overlap: int = OVERLAP,
    min_tile: int = MIN_TILE,
    on_tile: OnTile | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    align: int = 1,
) -> torch.Tensor:
    """Images [B, H, W, 3] in [0, 1] -> [B, H * scale, W * scale, 3], tile by tile (tiles
    starting at multiples of `align`); on running out of memory, again with tiles half the
    side, down to `min_tile`."""
    while True:
        try:
            sides = (tile, overlap, align)
            return _tiled(network, pixels, scale, sides, on_tile, device, dtype)
        except RuntimeError as error:
            if not is_out_of_memory(error):
                raise
            if tile // 2 < min_tile:
                raise UpscaleOutOfMemory(
                    f"out of memory even in tiles of {tile}x{tile} pixels: use a smaller "
                    "image, or free memory (unload models)"
                ) from None
            tile //= 2
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Where tiles start along one side: as few as cover it with at least `overlap`
    pixels shared between neighbours, spread evenly, each at a multiple of `align` (so a
    network that works in blocks, SwinIR's windows or a pixel unshuffle, sees the blocks
    the whole image has); the last reaches the end, shorter if alignment requires."""
    if length <= tile:
        return [0]
    if tile - overlap - align <= 0:
        align = 1
    count = math.ceil((length - overlap - align) / (tile - overlap - align))
    last = math.ceil((length - tile) / align) * align
    return [round(i * last / (count - 1) / align) * align for i in range(count)]


def blend_weights(length: int, overlap: int, cut_before: bool, cut_after: bool) -> torch.Tensor:
    """A tile's weight along one side. At a side where the image was cut, the outer
    quarter of the overlap (what the network saw padded, not the real neighbours) counts
    next to nothing, then the weight rises across the middle half to 1; neighbours' weights
    mirror it, so each fades into the next. At the image's own edges it stays 1."""
    weight = torch.ones(length)
    if overlap < 4:
        return weight
    inside = torch.arange(length, dtype=torch.float32) + 0.5
    rising = ((inside - overlap / 4) / (overlap / 2)).clamp(FAINT, 1.0)
    if cut_before:
        weight = torch.minimum(weight, rising)
    if cut_after:
        weight = torch.minimum(weight, rising.flip(0))
    return weight


def _tiled(
    network: Network,
    pixels: torch.Tensor,
    scale: int,
    sides: tuple[int, int, int],
    on_tile: OnTile | None,
    device: torch.device | str,
    dtype: torch.dtype,
) -> torch.Tensor:
    batch, height, width, _ = pixels.shape
    tile, overlap, align = sides
    overlap = min(overlap, tile // 2)  # small tiles (after running out of memory) keep some
    rows = tile_starts(height, tile, overlap, align)
    cols = tile_starts(width, tile, overlap, align)
    total, done = batch * len(rows) * len(cols), 0
    out = torch.zeros(batch, height * scale, width * scale, 3)  # what the node returns
    weight = torch.zeros(height * scale, width * scale, 1)
    for index in range(batch):
        # A slice, not pixels[index].unsqueeze(0): that view's batch stride (3) made oneDNN
        # take a slower path, 1.3x on Real-ESRGAN Compact here.
        image = pixels[index : index + 1].permute(0, 3, 1, 2)
        for top in rows:
            for left in cols:
                check_interrupt()
                part = image[:, :, top : top + tile, left : left + tile].to(device, dtype)
                # Channels-last convolutions: Real-ESRGAN Compact ran 1.6x faster than on
                # NCHW here (oneDNN, one thread), and it is what tensor cores want on a GPU.
                part = part.contiguous(memory_format=torch.channels_last)
                with torch.inference_mode():
                    result = network(part)[0].permute(1, 2, 0).float().cpu()
                h, w = result.shape[:2]
                across = blend_weights(h, overlap * scale, top > 0, top + tile < height)
                along = blend_weights(w, overlap * scale, left > 0, left + tile < width)
                blend = (across[:, None] * along[None, :]).unsqueeze(-1)
                rows_out = slice(top * scale, top * scale + h)
                cols_out = slice(left * scale, left * scale + w)
                out[index, rows_out, cols_out] += result * blend
                if index == 0:
                    weight[rows_out, cols_out] += blend
                done += 1
                if on_tile is not None:
                    on_tile(done, total)
    return out.div_(weight).clamp_(0, 1)
