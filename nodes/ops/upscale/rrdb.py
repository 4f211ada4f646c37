"""ESRGAN's generator (Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution Generative
Adversarial Networks"), with Real-ESRGAN's pixel-unshuffled input for x2 and x1 (Wang et al.
2021). Module names follow BasicSR's published weight files.

Residual-in-residual dense blocks: each dense block's five 3x3 convolutions see every
earlier feature map; its output is scaled by 0.2 and added back, and so is each group of
three. Upsampling is nearest-neighbour x2 followed by a convolution, as many times as the
file has conv_up layers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

RESIDUAL_SCALE = 0.2  # the paper's residual scaling, which keeps a deep stack stable
SLOPE = 0.2  # LeakyReLU negative slope throughout


def _conv(channels_in: int, channels_out: int) -> nn.Conv2d:
    return nn.Conv2d(channels_in, channels_out, 3, 1, 1)


class DenseBlock(nn.Module):
    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        for n in range(1, 5):
            self.add_module(f"conv{n}", _conv(features + (n - 1) * growth, growth))
        self.conv5 = _conv(features + 4 * growth, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = [x]
        for n in range(1, 5):
            conv = getattr(self, f"conv{n}")
            seen.append(F.leaky_relu(conv(torch.cat(seen, 1)), SLOPE))
        return self.conv5(torch.cat(seen, 1)) * RESIDUAL_SCALE + x


class ResidualInResidual(nn.Module):
    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        self.rdb1 = DenseBlock(features, growth)
        self.rdb2 = DenseBlock(features, growth)
        self.rdb3 = DenseBlock(features, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * RESIDUAL_SCALE + x


class RRDBNet(nn.Module):
    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        features: int = 64,
        growth: int = 32,
        blocks: int = 23,
        upsamples: int = 2,
        unshuffle: int = 1,
    ) -> None:
        super().__init__()
        self.unshuffle = unshuffle
        self.conv_first = _conv(in_channels * unshuffle**2, features)
        self.body = nn.Sequential(*(ResidualInResidual(features, growth) for _ in range(blocks)))
        self.conv_body = _conv(features, features)
        self.upsamples = upsamples
        for n in range(1, upsamples + 1):
            self.add_module(f"conv_up{n}", _conv(features, features))
        self.conv_hr = _conv(features, features)
        self.conv_last = _conv(features, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if self.unshuffle > 1:
            # Unshuffling needs sides divisible by the factor: pad by repeating the edge.
            x = F.pad(x, (0, -width % self.unshuffle, 0, -height % self.unshuffle), "replicate")
            x = F.pixel_unshuffle(x, self.unshuffle)
        features = self.conv_first(x)
        features = features + self.conv_body(self.body(features))
        for n in range(1, self.upsamples + 1):
            up = F.interpolate(features, scale_factor=2, mode="nearest")
            features = F.leaky_relu(getattr(self, f"conv_up{n}")(up), SLOPE)
        out = self.conv_last(F.leaky_relu(self.conv_hr(features), SLOPE))
        scale = 2**self.upsamples // self.unshuffle
        return out[..., : height * scale, : width * scale]
