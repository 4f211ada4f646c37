"""Canny edge detection in torch: the ControlNet canny preprocessor, without OpenCV.

Thresholds apply to the Sobel gradient magnitude of the blurred grayscale image in [0, 1]
(the scale of ComfyUI's Canny node, where 0.4/0.8 are the usual pair; OpenCV's 100/200 on
0-255 images roughly match 0.39/0.78 here). A full-contrast step measures about 2.6.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as OpenCV's and kornia's grayscale
# Neighbour offsets (dy, dx) along the gradient, for directions 0, 45, 90 and 135 degrees
# (y grows downwards in both the image and the gradient, so they agree).
_ALONG = ((0, 1), (1, 1), (1, 0), (1, -1))
_TIE = 1e-4  # far below any useful threshold, far above float32 rounding of magnitudes


def _gaussian_blur(gray: torch.Tensor, sigma: float = 1.0, size: int = 5) -> torch.Tensor:
    x = torch.arange(size, dtype=gray.dtype, device=gray.device) - size // 2
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = F.pad(gray, (size // 2,) * 4, mode="replicate")  # no false edges at the border
    out = F.conv2d(padded, kernel.view(1, 1, 1, size))
    return F.conv2d(out, kernel.view(1, 1, size, 1))


def _sobel(gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    sobel_x = torch.tensor(
        [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=gray.dtype, device=gray.device
    )
    padded = F.pad(gray, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, sobel_x.view(1, 1, 3, 3))
    gy = F.conv2d(padded, sobel_x.t().contiguous().view(1, 1, 3, 3))
    return gx, gy


def _shift(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """image[y + dy, x + dx], zero outside."""
    h, w = image.shape[-2:]
    padded = F.pad(image, (1, 1, 1, 1))
    return padded[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]


def _non_maximum_suppression(
    magnitude: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor
) -> torch.Tensor:
    """Magnitude where it peaks across the edge (along the gradient), else 0."""
    angle = torch.atan2(gy, gx) * (180.0 / math.pi)
    direction = torch.round(angle.remainder(180.0) / 45.0).long().remainder(4)
    keep = torch.zeros_like(magnitude, dtype=torch.bool)
    for index, (dy, dx) in enumerate(_ALONG):
        # Strict on one side only, so a ridge two pixels wide keeps one of them; with a
        # tolerance, so the sides of a symmetric ridge tie however the floats round.
        ahead, behind = _shift(magnitude, dy, dx), _shift(magnitude, -dy, -dx)
        peak = (magnitude > ahead + _TIE) & (magnitude >= behind - _TIE)
        keep |= (direction == index) & peak
    return torch.where(keep, magnitude, torch.zeros_like(magnitude))


def _hysteresis(strong: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    """Strong edges plus the weak ones connected to them (8-neighbourhood)."""
    allowed = weak.float()
    edges = strong.float()  # strong lies within weak, so each step keeps the seeds
    while True:
        previous = edges
        for _ in range(8):  # several dilations per convergence check: fewer syncs
            edges = F.max_pool2d(edges, 3, stride=1, padding=1) * allowed
        if torch.equal(edges, previous):
            return edges > 0


def canny(pixels: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """White edges on black, [B, H, W, 3] in the input's dtype, from [B, H, W, 3] in [0, 1]."""
    if pixels.ndim != 4 or pixels.shape[-1] != 3:
        raise ValueError(f"expected images [batch, height, width, 3], got {tuple(pixels.shape)}")
    low = min(low, high)  # a low above high would make weak edges stronger than strong ones
    rgb = pixels.float()
    luma = torch.tensor(_LUMA, dtype=rgb.dtype, device=rgb.device)
    gray = (rgb * luma).sum(-1).unsqueeze(1)  # [B, 1, H, W]
    gx, gy = _sobel(_gaussian_blur(gray))
    magnitude = torch.sqrt(gx**2 + gy**2)
    thin = _non_maximum_suppression(magnitude, gx, gy)
    weak = (thin >= low) & (thin > 0)
    edges = _hysteresis(weak & (thin >= high), weak)
    return edges.squeeze(1).unsqueeze(-1).repeat(1, 1, 1, 3).to(pixels.dtype)
