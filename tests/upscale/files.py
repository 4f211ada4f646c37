"""Tiny random-weight upscale networks of each architecture, written as their published
files are laid out: BasicSR's {"params_ema": ...} .pth, .safetensors, and the original
ESRGAN repository's model.N names."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from nodes.ops.upscale.compact import SRVGGNetCompact
from nodes.ops.upscale.rrdb import RRDBNet
from nodes.ops.upscale.swinir import SwinIR


def tiny_rrdb(scale: int = 4) -> RRDBNet:
    """Real-ESRGAN's x4 network, or its x2/x1 with pixel-unshuffled input."""
    torch.manual_seed(scale)
    return RRDBNet(features=8, growth=4, blocks=2, unshuffle={4: 1, 2: 2, 1: 4}[scale]).eval()


def tiny_compact(scale: int = 4) -> SRVGGNetCompact:
    torch.manual_seed(10 + scale)
    return SRVGGNetCompact(features=8, convs=3, scale=scale).eval()


def tiny_swinir(upsampler: str = "nearest+conv", scale: int = 4) -> SwinIR:
    """A SwinIR shaped like the published ones (a window of 8, shifted every other block,
    two residual groups), only narrow."""
    torch.manual_seed(20 + scale)
    network = SwinIR(
        scale=scale,
        embed_dim=12,
        depths=(2, 2),
        heads=(2, 3),
        window=8,
        features=8,
        upsampler=upsampler,
    )
    return network.eval()


def weights(network: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone().contiguous() for k, v in network.state_dict().items()}


def save_pth(
    path: Path, state: dict[str, torch.Tensor], wrapper: str | None = "params_ema"
) -> Path:
    torch.save({wrapper: state} if wrapper else state, path)
    return path


def save_safetensors(path: Path, state: dict[str, torch.Tensor]) -> Path:
    save_file(state, str(path))
    return path


# Where the original ESRGAN layout puts each convolution: model.1 is the trunk, and each
# upsampling is (nearest x2, conv, LeakyReLU), then (conv, LeakyReLU, conv).
OLD_INDICES = {
    4: {"conv_first": 0, "conv_up1": 3, "conv_up2": 6, "conv_hr": 8, "conv_last": 10},
    2: {"conv_first": 0, "conv_up1": 3, "conv_hr": 5, "conv_last": 7},
}


def old_esrgan_names(state: dict[str, torch.Tensor], scale: int = 4) -> dict[str, torch.Tensor]:
    """A BasicSR-named RRDB's weights under the original ESRGAN repository's names."""
    blocks = len({k.split(".")[1] for k in state if k.startswith("body.")})
    top = OLD_INDICES[scale]
    old = {}
    for key, value in state.items():
        name, what = key.rsplit(".", 1)
        rdb = re.fullmatch(r"body\.(\d+)\.rdb(\d)\.conv(\d)", name)
        if rdb:
            n, r, c = rdb.groups()
            old[f"model.1.sub.{n}.RDB{r}.conv{c}.0.{what}"] = value
        elif name == "conv_body":
            old[f"model.1.sub.{blocks}.{what}"] = value
        else:
            old[f"model.{top[name]}.{what}"] = value
    return old
