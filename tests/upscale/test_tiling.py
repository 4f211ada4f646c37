"""Tiled upscaling: tiles smaller than the image give the untiled result (seams blended),
running out of memory retries in smaller tiles, and an interrupt stops between tiles."""

from __future__ import annotations

import itertools
import threading

import pytest
import torch
from torch import nn

from engine.context import Interrupted, interruptible_by
from nodes.ops.upscale.tiling import UpscaleOutOfMemory, tile_starts, upscale
from tests.upscale.files import tiny_compact, tiny_rrdb, tiny_swinir

PIXELS = torch.rand(2, 70, 90, 3)  # [B, H, W, 3], larger than the tiles below


def whole(network: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = network(pixels.permute(0, 3, 1, 2))
    return out.clamp(0, 1).permute(0, 2, 3, 1)


def test_tiles_cover_the_side_and_the_last_is_flush_with_the_end() -> None:
    assert tile_starts(100, 512, 32) == [0]
    assert tile_starts(1000, 512, 32) == [0, 244, 488]
    assert tile_starts(900, 512, 32) == [0, 388]


@pytest.mark.parametrize("network", [tiny_rrdb(4), tiny_compact(4)], ids=["rrdb", "compact"])
def test_tiled_convolutional_networks_match_untiled(network: nn.Module) -> None:
    # The overlap's outer quarter (6 px) is wider than these networks see (5 px), so the
    # blended tiles give what the whole image gives, to float rounding.
    counted: list[tuple[int, int]] = []
    tiled = upscale(network, PIXELS, 4, tile=48, overlap=24, on_tile=lambda *n: counted.append(n))
    assert tiled.shape == (2, 280, 360, 3)
    assert counted[-1] == (12, 12)  # 2 images x 2 rows x 3 columns
    assert float((tiled - whole(network, PIXELS)).abs().max()) < 1e-5


@pytest.mark.parametrize(
    ("network", "scale", "align"),
    [(tiny_swinir("nearest+conv", 4), 4, 8), (tiny_rrdb(2), 2, 2)],
    ids=["swinir-window-8", "rrdb-x2-unshuffle-2"],
)
def test_tiles_aligned_to_the_network_blocks_match_untiled(
    network: nn.Module, scale: int, align: int
) -> None:
    # Tiles starting at multiples of SwinIR's window (or of Real-ESRGAN x2's unshuffle)
    # see the blocks the whole image has. Unaligned, both differed by 0.05 at worst here;
    # aligned, by 8e-5.
    untiled = whole(network, PIXELS)
    tiled = upscale(network, PIXELS, scale, tile=48, overlap=24, align=align)
    assert float((tiled - untiled).abs().max()) < 1e-3


def test_aligned_tiles_start_at_multiples_and_reach_the_end() -> None:
    starts = tile_starts(100, 48, 24, align=8)
    assert all(start % 8 == 0 for start in starts) and starts[-1] + 48 >= 100
    pairs = itertools.pairwise(starts)
    assert all(first + 48 - second >= 24 for first, second in pairs)


class FailsAbove:
    """A real network that runs out of memory on inputs larger than `side`, raising what
    torch raises when a device's allocation fails."""

    def __init__(
        self,
        network: nn.Module,
        side: int,
        error: type[RuntimeError],
        message: str = "CUDA out of memory. Tried to allocate 20.00 GiB",
    ) -> None:
        self.network, self.side, self.error, self.message = network, side, error, message
        self.sizes: list[tuple[int, int]] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append((x.shape[-2], x.shape[-1]))
        if max(x.shape[-2:]) > self.side:
            raise self.error(self.message)
        return self.network(x)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (torch.OutOfMemoryError, "CUDA out of memory. Tried to allocate 20.00 GiB"),
        (RuntimeError, "MPS backend out of memory (MPS allocated: 9.00 GB)"),
        (
            RuntimeError,
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory",
        ),
    ],
    ids=["cuda", "mps", "cpu"],
)
def test_out_of_memory_retries_with_tiles_half_the_side(
    error: type[RuntimeError], message: str
) -> None:
    network = tiny_compact(4)
    failing = FailsAbove(network, 40, error, message)
    result = upscale(failing, PIXELS, 4, tile=128, min_tile=16)
    assert failing.sizes[0] == (70, 90)  # the whole image first, then 64, then 32
    assert max(max(size) for size in failing.sizes[-12:]) <= 32
    assert torch.equal(result, upscale(network, PIXELS, 4, tile=32))


def test_out_of_memory_at_the_smallest_tile_says_so() -> None:
    failing = FailsAbove(tiny_compact(4), 8, torch.OutOfMemoryError)
    with pytest.raises(UpscaleOutOfMemory, match="even in tiles of 32x32 pixels"):
        upscale(failing, PIXELS, 4, tile=128, min_tile=32)


def test_other_errors_are_not_taken_for_lack_of_memory() -> None:
    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("expected 3 channels")

    with pytest.raises(RuntimeError, match="expected 3 channels"):
        upscale(broken, PIXELS, 4, tile=32)


def test_an_interrupt_stops_between_tiles() -> None:
    flag = threading.Event()
    done: list[int] = []

    def on_tile(step: int, total: int) -> None:
        done.append(step)
        if step == 2:
            flag.set()  # someone pressed stop while tile 2 ran

    with interruptible_by(flag), pytest.raises(Interrupted):
        upscale(tiny_compact(4), PIXELS, 4, tile=32, overlap=8, on_tile=on_tile)
    assert done == [1, 2]
