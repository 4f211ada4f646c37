"""SwinIR (Liang et al. 2021, "SwinIR: Image Restoration Using Swin Transformer"): a
convolution, residual groups of Swin Transformer blocks (self-attention inside windows,
every other block over windows shifted by half a window, with a learned bias per relative
position), then an upsampler. Module names follow the published weight files
(001_classicalSR_*, 003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN, ...).

Any image size works: the input is padded by reflection to a multiple of the window, and
the shifted windows' mask is computed for the size at hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

RGB_MEAN = (0.4488, 0.4371, 0.4040)  # the training set's mean, subtracted from the input
SLOPE = 0.01  # the upsamplers' LeakyReLU (torch's default slope)
MASKED = -100.0  # attention logit between pixels that a shifted window brought together


def relative_position_index(window: int) -> torch.Tensor:
    """For each pair of positions in a window, the row of the bias table for their offset."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    flat = coords.flatten(1)
    offsets = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0) + (window - 1)
    return offsets[..., 0] * (2 * window - 1) + offsets[..., 1]


def to_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """[B, H, W, C] -> [B * windows, window * window, C]."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def from_windows(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def shifted_window_mask(h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """[windows, N, N]: 0 between pixels from the same region before the cyclic shift,
    MASKED between pixels that only the shift made neighbours."""
    regions = torch.zeros(1, h, w, 1)
    bands = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for label, (rows, cols) in enumerate((r, c) for r in bands for c in bands):
        regions[:, rows, cols, :] = label
    labels = to_windows(regions, window).squeeze(-1)
    differ = labels[:, None, :] != labels[:, :, None]
    return torch.zeros(differ.shape).masked_fill(differ, MASKED)


class WindowAttention(nn.Module):
    relative_position_index: torch.Tensor

    def __init__(self, dim: int, window: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        windows, n, c = x.shape
        qkv = self.qkv(x).view(windows, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        index = self.relative_position_index.view(-1)
        bias = self.relative_position_bias_table[index].view(n, n, -1).permute(2, 0, 1)
        logits = (q * self.scale) @ k.transpose(-2, -1) + bias.unsqueeze(0)
        if mask is not None:
            per_image = mask.shape[0]
            logits = logits.view(-1, per_image, self.heads, n, n) + mask[None, :, None]
            logits = logits.view(-1, self.heads, n, n)
        out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(windows, n, c)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        b, _, c = x.shape
        shortcut = x
        grid = self.norm1(x).view(b, h, w, c)
        mask = None
        if self.shift:
            grid = torch.roll(grid, (-self.shift, -self.shift), (1, 2))
            mask = shifted_window_mask(h, w, self.window, self.shift).to(x)
        attended = self.attn(to_windows(grid, self.window), mask)
        grid = from_windows(attended, self.window, h, w)
        if self.shift:
            grid = torch.roll(grid, (self.shift, self.shift), (1, 2))
        x = shortcut + grid.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class BlockGroup(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, window: int, mlp_ratio: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio)
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, size)
        return x


def _body_conv(dim: int, three_conv: bool) -> nn.Module:
    """The convolution closing a group (and the body): one 3x3, or SwinIR-L's cheaper
    3x3 -> 1x1 -> 3x3 through a quarter of the channels."""
    if not three_conv:
        return nn.Conv2d(dim, dim, 3, 1, 1)
    quarter = dim // 4
    return nn.Sequential(
        nn.Conv2d(dim, quarter, 3, 1, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(quarter, quarter, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(quarter, dim, 3, 1, 1),
    )


class ResidualGroup(nn.Module):
    """RSTB: Swin blocks, then a convolution on the image-shaped features, plus the input."""

    def __init__(self, dim: int, depth: int, heads: int, window: int, options: dict) -> None:
        super().__init__()
        self.residual_group = BlockGroup(dim, depth, heads, window, options["mlp_ratio"])
        self.conv = _body_conv(dim, options["three_conv"])

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        tokens = self.residual_group(x, size)
        b, _, c = tokens.shape
        image = tokens.transpose(1, 2).reshape(b, c, *size)
        return self.conv(image).flatten(2).transpose(1, 2) + x


class PatchNorm(nn.Module):
    """Image features to tokens, layer-normed (the file's patch_embed.norm)."""

    def __init__(self, dim: int, enabled: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim) if enabled else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.flatten(2).transpose(1, 2))


def _upsampler(kind: str, dim: int, features: int, scale: int, out: int) -> dict[str, nn.Module]:
    """The modules after the body, by the file's names."""
    act = nn.LeakyReLU(SLOPE)
    if kind == "pixelshuffle":
        stages: list[nn.Module] = []
        for factor in [3] if scale == 3 else [2] * (scale.bit_length() - 1):
            stages += [nn.Conv2d(features, factor * factor * features, 3, 1, 1)]
            stages += [nn.PixelShuffle(factor)]
        return {
            "conv_before_upsample": nn.Sequential(nn.Conv2d(dim, features, 3, 1, 1), act),
            "upsample": nn.Sequential(*stages),
            "conv_last": nn.Conv2d(features, out, 3, 1, 1),
        }
    if kind == "nearest+conv":
        ups = {f"conv_up{n}": nn.Conv2d(features, features, 3, 1, 1) for n in (1, 2)[: scale // 2]}
        return {
            "conv_before_upsample": nn.Sequential(nn.Conv2d(dim, features, 3, 1, 1), act),
            **ups,
            "conv_hr": nn.Conv2d(features, features, 3, 1, 1),
            "conv_last": nn.Conv2d(features, out, 3, 1, 1),
        }
    if kind == "pixelshuffledirect":
        conv = nn.Conv2d(dim, scale * scale * out, 3, 1, 1)
        return {"upsample": nn.Sequential(conv, nn.PixelShuffle(scale))}
    return {"conv_last": nn.Conv2d(dim, out, 3, 1, 1)}


class SwinIR(nn.Module):
    def __init__(
        self,
        *,
        scale: int,
        in_channels: int = 3,
        embed_dim: int = 180,
        depths: Sequence[int] = (6, 6, 6, 6, 6, 6),
        heads: Sequence[int] = (6, 6, 6, 6, 6, 6),
        window: int = 8,
        mlp_ratio: float = 2.0,
        upsampler: str = "pixelshuffle",
        three_conv: bool = False,
        features: int = 64,
        patch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.scale, self.window, self.upsampler = scale, window, upsampler
        # Not a buffer: the files do not carry it, and a model built on the meta device
        # would be left without its values.
        self.mean = RGB_MEAN if in_channels == 3 else (0.0,) * in_channels
        self.conv_first = nn.Conv2d(in_channels, embed_dim, 3, 1, 1)
        self.patch_embed = PatchNorm(embed_dim, patch_norm)
        options = {"mlp_ratio": mlp_ratio, "three_conv": three_conv}
        self.layers = nn.ModuleList(
            ResidualGroup(embed_dim, depth, head, window, options)
            for depth, head in zip(depths, heads, strict=True)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = _body_conv(embed_dim, three_conv)
        for name, module in _upsampler(upsampler, embed_dim, features, scale, in_channels).items():
            self.add_module(name, module)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[2], x.shape[3])
        tokens = self.patch_embed(x)
        for layer in self.layers:
            tokens = layer(tokens, size)
        tokens = self.norm(tokens)
        features = tokens.transpose(1, 2).reshape(x.shape)
        return self.conv_after_body(features) + x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.window, -w % self.window
        x = F.pad(x, (0, pad_w, 0, pad_h), "reflect") if pad_h or pad_w else x
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        features = self.conv_first(x - mean)
        body = self.body(features)
        if self.upsampler in ("pixelshuffle", "nearest+conv"):
            body = self.get_submodule("conv_before_upsample")(body)
        out = self._upsample(body, x - mean if self.upsampler == "" else None)
        return (out + mean)[..., : h * self.scale, : w * self.scale]

    def _upsample(self, body: torch.Tensor, residual: torch.Tensor | None) -> torch.Tensor:
        if self.upsampler == "pixelshuffle":
            return self.get_submodule("conv_last")(self.get_submodule("upsample")(body))
        if self.upsampler == "pixelshuffledirect":
            return self.get_submodule("upsample")(body)
        if self.upsampler == "nearest+conv":
            for n in range(1, self.scale.bit_length()):
                up = F.interpolate(body, scale_factor=2, mode="nearest")
                body = F.leaky_relu(getattr(self, f"conv_up{n}")(up), 0.2)
            return self.get_submodule("conv_last")(
                F.leaky_relu(self.get_submodule("conv_hr")(body), 0.2)
            )
        assert residual is not None
        return residual + self.get_submodule("conv_last")(body)
