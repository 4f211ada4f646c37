"""Real-ESRGAN's compact network, SRVGGNetCompact (Wang et al. 2021, "Real-ESRGAN",
realesr-general-x4v3 and realesr-animevideov3): a plain stack of 3x3 convolutions at the
input resolution, each followed by a PReLU, whose last layer makes scale^2 sub-pixels per
channel for a pixel shuffle; the result is a residual over the nearest-upscaled input.
Module names (body.0 .. body.N) follow the published weight files."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LEAKY_SLOPE = 0.1  # files without PReLU weights were trained with a LeakyReLU


class SRVGGNetCompact(nn.Module):
    def __init__(
        self,
        *,
        in_channels: int = 3,
        features: int = 64,
        convs: int = 16,
        scale: int = 4,
        prelu: bool = True,
    ) -> None:
        super().__init__()
        self.scale = scale

        def activation() -> nn.Module:
            return nn.PReLU(features) if prelu else nn.LeakyReLU(LEAKY_SLOPE)

        layers: list[nn.Module] = [nn.Conv2d(in_channels, features, 3, 1, 1), activation()]
        for _ in range(convs):
            layers += [nn.Conv2d(features, features, 3, 1, 1), activation()]
        layers.append(nn.Conv2d(features, in_channels * scale * scale, 3, 1, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.pixel_shuffle(self.body(x), self.scale)
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")
