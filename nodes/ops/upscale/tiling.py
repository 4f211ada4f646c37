"""Running an upscale network over an image in tiles: any image size fits in memory, the
overlapping tile borders are blended so no seam shows, and when a tile is still too large
for the device the whole image starts again in tiles of half the side.

A network is any callable from [1, 3, h, w] to [1, 3, h * scale, w * scale]; the loaded
modules are, and so is a test's wrapper that fails above some size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine.context import check_interrupt

TILE = 512  # input pixels per tile side
OVERLAP = 32  # input pixels shared by neighbouring tiles, blended across
MIN_TILE = 64  # below this, tiles cost more in borders than they save in memory

Network = Callable[[torch.Tensor], torch.Tensor]
OnTile = Callable[[int, int], None]  # (tiles done, tiles in all)


class UpscaleOutOfMemory(RuntimeError):
    """Not even the smallest tiles fit on the device."""


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
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
) -> torch.Tensor:
    """Images [B, H, W, 3] in [0, 1] -> [B, H * scale, W * scale, 3], tile by tile; on
    running out of memory, again with tiles half the side, down to `min_tile`."""
    while True:
        try:
            return _tiled(network, pixels, scale, tile, overlap, on_tile, device, dtype)
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


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where tiles start along one side: `tile` apart less the overlap, the last flush
    with the end (so every tile is whole)."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return [*starts, length - tile]


def ramp(length: int, overlap: int) -> torch.Tensor:
    """A tile's blending weight along one side: rising over `overlap` pixels at each end,
    never zero, so where tiles overlap each fades into the next."""
    position = torch.arange(length, dtype=torch.float32) + 0.5
    return torch.minimum(position, length - position).div(max(overlap, 1)).clamp(max=1.0)


def _tiled(
    network: Network,
    pixels: torch.Tensor,
    scale: int,
    tile: int,
    overlap: int,
    on_tile: OnTile | None,
    device: torch.device | str,
    dtype: torch.dtype,
) -> torch.Tensor:
    batch, height, width, _ = pixels.shape
    overlap = min(overlap, tile // 4)
    rows, cols = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    total, done = batch * len(rows) * len(cols), 0
    out = torch.zeros(batch, 3, height * scale, width * scale)
    weight = torch.zeros(1, 1, height * scale, width * scale)
    for index in range(batch):
        image = pixels[index].permute(2, 0, 1).unsqueeze(0)
        for top in rows:
            for left in cols:
                check_interrupt()
                part = image[:, :, top : top + tile, left : left + tile]
                with torch.inference_mode():
                    result = network(part.to(device, dtype)).float().cpu()
                h, w = result.shape[-2:]
                blend = ramp(h, overlap * scale)[:, None] * ramp(w, overlap * scale)[None, :]
                rows_out = slice(top * scale, top * scale + h)
                cols_out = slice(left * scale, left * scale + w)
                out[index, :, rows_out, cols_out] += result[0] * blend
                if index == 0:
                    weight[0, 0, rows_out, cols_out] += blend
                done += 1
                if on_tile is not None:
                    on_tile(done, total)
    return (out / weight).clamp(0, 1).permute(0, 2, 3, 1).contiguous()
