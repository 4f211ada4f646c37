"""Grey dilation of masks by large squares and diamonds in a few passes, for Grow Mask.

ComfyUI grows a mask one 3x3 step per pixel, so growing by n costs n passes (minutes for a
few thousand). n steps of the full 3x3 square are one (2n+1)-square, and n steps of the
3x3 cross are one diamond of radius n (|dy| + |dx| <= n), both clipped to the image: each
is computed here from sliding-window maxima, in O(log n) passes of the whole mask.
"""

from __future__ import annotations

import torch

from engine.context import check_interrupt
from nodes.ops.pixels.sizes import STEPWISE_RADIUS


def window_max(values: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    """The maximum over [i - before, i + after] along `dim`, ignoring what lies outside.
    Maxima over power-of-two windows are built by doubling; two of them cover any window."""
    if before <= 0 and after <= 0:
        return values
    length, window = values.shape[dim], before + after + 1
    edges = []
    for size in (before, after):
        shape = list(values.shape)
        shape[dim] = size
        edges.append(values.new_full(shape, float("-inf")))
    table, span = torch.cat([edges[0], values, edges[1]], dim=dim), 1
    while 2 * span <= window:
        size = table.shape[dim] - span
        table = torch.maximum(table.narrow(dim, 0, size), table.narrow(dim, span, size))
        span *= 2
        check_interrupt()
    return torch.maximum(table.narrow(dim, 0, length), table.narrow(dim, window - span, length))


def dilate_square(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Each pixel of [B, H, W] becomes the maximum within a (2r+1)-square around it."""
    return window_max(window_max(mask, radius, radius, 1), radius, radius, 2)


def _cross_step(mask: torch.Tensor) -> torch.Tensor:
    """One step: the maximum of each pixel and its 4 neighbours."""
    out = mask.clone()
    out[:, 1:] = torch.maximum(out[:, 1:], mask[:, :-1])
    out[:, :-1] = torch.maximum(out[:, :-1], mask[:, 1:])
    out[:, :, 1:] = torch.maximum(out[:, :, 1:], mask[:, :, :-1])
    out[:, :, :-1] = torch.maximum(out[:, :, :-1], mask[:, :, 1:])
    return out


def dilate_diamond(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Each pixel of [B, H, W] becomes the maximum within |dy| + |dx| <= radius. In the
    coordinates u = y + x, v = y - x that diamond is a square, so the mask is laid out
    on a (u, v) grid (cells that are no pixel hold -inf) and dilated by a square there."""
    if radius <= STEPWISE_RADIUS:
        for _ in range(radius):
            mask = _cross_step(mask)
        return mask
    _, height, width = mask.shape
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    u, v = ys + xs, ys - xs + (width - 1)
    side = height + width - 1
    out = torch.empty_like(mask)
    for index, item in enumerate(mask):  # one item at a time: the grid is (H + W)^2
        grid = item.new_full((side, side), float("-inf"))
        grid[u, v] = item
        out[index] = dilate_square(grid[None], radius)[0][u, v]
    return out


def _dilate_box(planes: torch.Tensor, kernel: int) -> torch.Tensor:
    """The maximum over a kernel x kernel box anchored at kernel // 2 (as kornia's flat
    structuring element), for [N, H, W] planes; pixels outside are ignored."""
    before, after = kernel // 2, kernel - 1 - kernel // 2
    return window_max(window_max(planes, before, after, 1), before, after, 2)


def _erode_box(planes: torch.Tensor, kernel: int) -> torch.Tensor:
    return -_dilate_box(-planes, kernel)


def morphology(pixels: torch.Tensor, operation: str, kernel: int) -> torch.Tensor:
    """ComfyUI's Morphology node on [B, H, W, C] images, each channel on its own:
    erode, dilate, open, close, gradient, top_hat or bottom_hat with a flat square."""
    planes = pixels.movedim(-1, 1).reshape(-1, *pixels.shape[1:3])
    dilate, erode = _dilate_box, _erode_box
    if operation == "erode":
        out = erode(planes, kernel)
    elif operation == "dilate":
        out = dilate(planes, kernel)
    elif operation == "open":
        out = dilate(erode(planes, kernel), kernel)
    elif operation == "close":
        out = erode(dilate(planes, kernel), kernel)
    elif operation == "gradient":
        out = dilate(planes, kernel) - erode(planes, kernel)
    elif operation == "top_hat":
        out = planes - dilate(erode(planes, kernel), kernel)
    elif operation == "bottom_hat":
        out = erode(dilate(planes, kernel), kernel) - planes
    else:
        raise ValueError(f"unknown morphology operation {operation!r}")
    batch, height, width, channels = pixels.shape
    return out.reshape(batch, channels, height, width).movedim(1, -1).contiguous()
