"""FreeU v2 (Si et al. 2023, "FreeU: Free Lunch in Diffusion U-Net"), as ComfyUI's FreeU_V2.

In the UNet's decoder every layer reads the backbone features h concatenated with a skip
connection from the encoder. At the two deepest widths (4x and 2x the first block's
channels) FreeU strengthens the backbone and damps the skip's low frequencies:
- the first half of h's channels is multiplied by 1 + (b - 1) * m, where m is the
  channel-mean of h normalised to [0, 1] per image (v2: the boost follows the features);
- the skip's centred spectrum is multiplied by s inside the 2x2 lowest frequencies.
Applied with forward pre-hooks on the decoder's resnets, removed after use: the shared
model in the store is never changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch


def scale_backbone(h: torch.Tensor, b: float) -> torch.Tensor:
    """h with its first half of channels boosted by up to `b` where its mean is highest."""
    mean = h.mean(1, keepdim=True)
    flat = mean.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    high = flat.max(dim=1).values.view(-1, 1, 1, 1)
    weight = (mean - low) / (high - low).clamp_min(1e-12)  # a flat mean: no boost, no NaN
    half = h.shape[1] // 2
    return torch.cat([h[:, :half] * ((b - 1.0) * weight + 1.0), h[:, half:]], dim=1)


def fourier_filter(x: torch.Tensor, scale: float, threshold: int = 1) -> torch.Tensor:
    """x with its lowest spatial frequencies (a 2*threshold square around DC) times `scale`."""
    spectrum = torch.fft.fftshift(torch.fft.fftn(x.float(), dim=(-2, -1)), dim=(-2, -1))
    rows, cols = x.shape[-2] // 2, x.shape[-1] // 2
    mask = torch.ones(x.shape[-2:], device=x.device)
    mask[rows - threshold : rows + threshold, cols - threshold : cols + threshold] = scale
    spectrum = torch.fft.ifftshift(spectrum * mask, dim=(-2, -1))
    return torch.fft.ifftn(spectrum, dim=(-2, -1)).real.to(x.dtype)


def freeu_features(
    h: torch.Tensor, skip: torch.Tensor, b: float, s: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(backbone, skip) after FreeU v2. b = 1 and s = 1 leave them untouched, bit for bit
    (an FFT round trip alone would not)."""
    if b != 1.0:
        h = scale_backbone(h, b)
    if s != 1.0:
        skip = fourier_filter(skip, s)
    return h, skip


def _decoder_layers(unet: Any) -> Iterator[tuple[Any, int]]:
    """(decoder resnet, how many of its input channels are the backbone's) in order."""
    width = int(unet.mid_block.resnets[-1].out_channels)
    for block in unet.up_blocks:
        for resnet in block.resnets:
            yield resnet, width
            width = int(resnet.out_channels)


@dataclass(frozen=True)
class FreeU:
    """FreeU_V2's settings: (b1, s1) at 4x the first width, (b2, s2) at 2x."""

    b1: float
    b2: float
    s1: float
    s2: float

    def scales(self, unet: Any) -> dict[int, tuple[float, float]]:
        base = int(unet.config.block_out_channels[0])
        return {base * 4: (self.b1, self.s1), base * 2: (self.b2, self.s2)}

    @contextmanager
    def applied(self, unet: Any) -> Iterator[Any]:
        scales = self.scales(unet)
        handles = []
        for resnet, width in _decoder_layers(unet):
            if width in scales:
                handles.append(resnet.register_forward_pre_hook(_hook(width, *scales[width])))
        try:
            yield unet
        finally:
            for handle in handles:
                handle.remove()


def _hook(width: int, b: float, s: float) -> Any:
    def before(_module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        x = args[0]
        h, skip = freeu_features(x[:, :width], x[:, width:], b, s)
        return (torch.cat([h, skip], dim=1), *args[1:])

    return before
