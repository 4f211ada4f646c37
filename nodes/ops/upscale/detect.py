"""Which super-resolution network a weight file holds, read from its tensor names and
shapes alone (no torch here: admission reads safetensors headers with it too).

Three families, in the key layouts their published files use:
- ESRGAN / Real-ESRGAN RRDB: BasicSR's names (conv_first, body.N.rdb1.conv1, conv_body,
  conv_up1, conv_up2, conv_hr, conv_last) or the original ESRGAN repository's
  (model.0, model.1.sub.N.RDB1.conv1.0, ...), which `rename_old_esrgan` maps onto BasicSR's.
  A first convolution reading 12 or 48 channels means pixel-unshuffled input (Real-ESRGAN
  x2 and x1): the network always upsamples x4 after it.
- Real-ESRGAN Compact (SRVGGNetCompact): body.0 .. body.N, convolutions and PReLUs in turn,
  the last convolution giving 3 x scale^2 channels for a pixel shuffle.
- SwinIR: conv_first, layers.N.residual_group.blocks.M.attn..., with the upsampler told by
  which convolutions follow the body.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Shapes = Mapping[str, tuple[int, ...]]

LAYOUTS_READ = (
    "ESRGAN/Real-ESRGAN RRDB (BasicSR names conv_first/body.N.rdb1... or the original "
    "ESRGAN names model.0/model.1.sub.N.RDB1...), Real-ESRGAN Compact (SRVGGNetCompact: "
    "body.N), SwinIR (conv_first, layers.N.residual_group...)"
)
WRAPPERS = ("params_ema", "params", "state_dict", "model")  # BasicSR saves params_ema first


class UnknownUpscaleModel(ValueError):
    """Weights that are none of the layouts we read."""


@dataclass(frozen=True)
class UpscaleSpec:
    """An architecture, its scale and the hyperparameters its module is built with."""

    arch: str  # "rrdb", "compact", "swinir"
    scale: int
    options: Mapping[str, Any] = field(default_factory=dict)


def rename_old_esrgan(keys: list[str]) -> dict[str, str]:
    """Old ESRGAN name -> BasicSR name, for every key (empty when not the old layout).

    model.0 is the first convolution and model.1.sub.N the N-th RRDB, the last entry of
    `sub` the body's closing convolution. The convolutions after that are, in order, the
    upsampling ones, then the high-resolution one and the last one."""
    if "model.0.weight" not in keys or not any(k.startswith("model.1.sub.") for k in keys):
        return {}
    tail = sorted({int(k.split(".")[1]) for k in keys if re.fullmatch(r"model\.\d+\.\w+", k)})
    tail = [i for i in tail if i > 1]
    if len(tail) < 2:
        return {}
    names = {0: "conv_first", tail[-1]: "conv_last", tail[-2]: "conv_hr"}
    names.update({index: f"conv_up{n}" for n, index in enumerate(tail[:-2], start=1)})
    blocks = {int(k.split(".")[3]) for k in keys if re.match(r"model\.1\.sub\.\d+\.RDB", k)}
    renamed = {}
    for key in keys:
        rdb = re.fullmatch(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(\w+)", key)
        top = re.fullmatch(r"model\.(\d+)\.(\w+)", key)
        body = re.fullmatch(r"model\.1\.sub\.(\d+)\.(\w+)", key)
        if rdb:
            n, r, c, what = rdb.groups()
            renamed[key] = f"body.{n}.rdb{r}.conv{c}.{what}"
        elif top and int(top.group(1)) in names:
            renamed[key] = f"{names[int(top.group(1))]}.{top.group(2)}"
        elif body and int(body.group(1)) == len(blocks):
            renamed[key] = f"conv_body.{body.group(2)}"
    return renamed


# The ESRGAN repository's later names (RRDBNet_arch.py), piece by piece onto BasicSR's.
_ESRGAN_REPO_NAMES = (
    ("RRDB_trunk.", "body."),
    (".RDB", ".rdb"),
    ("trunk_conv.", "conv_body."),
    ("upconv", "conv_up"),
    ("HRconv.", "conv_hr."),
)


def rename_to_basicsr(keys: list[str]) -> dict[str, str]:
    """Old name -> BasicSR name for an RRDB file in either ESRGAN repository layout."""
    if any(k.startswith("RRDB_trunk.") for k in keys):
        renamed = {}
        for key in keys:
            new = key
            for old, basicsr in _ESRGAN_REPO_NAMES:
                new = new.replace(old, basicsr)
            renamed[key] = new
        return renamed
    return rename_old_esrgan(keys)


def detect(shapes: Shapes) -> UpscaleSpec:
    """The architecture of BasicSR-named (or renamed) weights, or UnknownUpscaleModel."""
    if any(k.startswith("layers.0.residual_group.") for k in shapes):
        return _swinir(shapes)
    if "conv_first.weight" in shapes and "body.0.rdb1.conv1.weight" in shapes:
        return _rrdb(shapes)
    if "body.0.weight" in shapes and len(shapes["body.0.weight"]) == 4:
        return _compact(shapes)
    sample = ", ".join(sorted(shapes)[:4]) or "no tensors"
    raise UnknownUpscaleModel(f"not an upscale model we can read (keys: {sample}, ...)")


def _count(shapes: Shapes, pattern: str) -> int:
    """How many distinct numbers fill the one (\\d+) group of `pattern` in the key names."""
    found = {m.group(1) for k in shapes if (m := re.match(pattern, k))}
    return len(found)


def _rrdb(shapes: Shapes) -> UpscaleSpec:
    features, in_channels = shapes["conv_first.weight"][:2]
    unshuffle = math.isqrt(in_channels // 3) if in_channels in (12, 48) else 1
    upsamples = _count(shapes, r"conv_up(\d+)\.weight")
    options = {
        "in_channels": in_channels // unshuffle**2,
        "out_channels": shapes["conv_last.weight"][0],
        "features": features,
        "growth": shapes["body.0.rdb1.conv1.weight"][0],
        "blocks": _count(shapes, r"body\.(\d+)\.rdb1\.conv1\.weight"),
        "upsamples": upsamples,
        "unshuffle": unshuffle,
    }
    return UpscaleSpec("rrdb", 2**upsamples // unshuffle, options)


def _compact(shapes: Shapes) -> UpscaleSpec:
    convs = sorted(
        int(k.split(".")[1])
        for k, s in shapes.items()
        if re.fullmatch(r"body\.\d+\.weight", k) and len(s) == 4
    )
    last = shapes[f"body.{convs[-1]}.weight"]
    in_channels = shapes["body.0.weight"][1]
    scale = math.isqrt(last[0] // in_channels)
    if scale * scale * in_channels != last[0]:
        raise UnknownUpscaleModel(f"a compact network whose last layer gives {last[0]} channels")
    options = {
        "in_channels": in_channels,
        "features": shapes["body.0.weight"][0],
        "convs": len(convs) - 2,
        "prelu": "body.1.weight" in shapes,
    }
    return UpscaleSpec("compact", scale, options)


def _swinir(shapes: Shapes) -> UpscaleSpec:
    embed, in_channels = shapes["conv_first.weight"][:2]
    block = "layers.0.residual_group.blocks.0."
    table = shapes[block + "attn.relative_position_bias_table"]
    layers = _count(shapes, r"layers\.(\d+)\.residual_group\.")
    depths = [
        _count(shapes, rf"layers\.{i}\.residual_group\.blocks\.(\d+)\.") for i in range(layers)
    ]
    heads = [
        shapes[f"layers.{i}.residual_group.blocks.0.attn.relative_position_bias_table"][1]
        for i in range(layers)
    ]
    upsampler, scale = _swinir_upsampler(shapes, in_channels)
    options = {
        "in_channels": in_channels,
        "embed_dim": embed,
        "depths": depths,
        "heads": heads,
        "window": (math.isqrt(table[0]) + 1) // 2,
        "mlp_ratio": shapes[block + "mlp.fc1.weight"][0] / embed,
        "upsampler": upsampler,
        "three_conv": "conv_after_body.0.weight" in shapes,
        "features": shapes.get("conv_before_upsample.0.weight", (64,))[0],
        "patch_norm": "patch_embed.norm.weight" in shapes,
    }
    return UpscaleSpec("swinir", scale, options)


def _swinir_upsampler(shapes: Shapes, in_channels: int) -> tuple[str, int]:
    """SwinIR's four upsamplers: "pixelshuffle" (classical SR), "nearest+conv" (real-world
    SR), "pixelshuffledirect" (lightweight SR) and none (denoising, JPEG: x1)."""
    if "conv_up1.weight" in shapes:
        return "nearest+conv", 4 if "conv_up2.weight" in shapes else 2
    if "conv_before_upsample.0.weight" in shapes:
        features = shapes["conv_before_upsample.0.weight"][0]
        stages = _count(shapes, r"upsample\.(\d+)\.weight")
        if shapes["upsample.0.weight"][0] == 9 * features:
            return "pixelshuffle", 3
        return "pixelshuffle", 2**stages
    if "upsample.0.weight" in shapes:
        return "pixelshuffledirect", math.isqrt(shapes["upsample.0.weight"][0] // in_channels)
    return "", 1
