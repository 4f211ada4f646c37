"""Memory estimates of the upscale-model nodes (no torch): the weights from the file's
header, and per tile the network's activations, dominated by the feature maps after
upsampling (64 channels at scale^2 the tile's pixels) and, for SwinIR, attention.

Measured peaks of one forward pass in float32 on this CPU, per input pixel, in float32
values (`/proc/self/status` VmHWM above the resting RSS; x4 networks at their published
sizes): RRDB 7,000 at 64x64 (1.7 x sqrt(parameters)), SwinIR-M 7,000 at 128x128 (2.0 x),
Real-ESRGAN Compact 420 at 128x128 (0.4 x). The coefficient below covers the largest with
a quarter to spare; for RRDB a 512x512 tile comes to about 10 GB on the CPU, half that in
half precision on a GPU.
"""

from __future__ import annotations

import contextlib
import math

from engine.footprint import CostInputs, Estimate, NodeCost, tensor
from engine.model_paths import ModelPaths
from nodes.footprints.formulas import _safetensors_header, resident
from nodes.ops.upscale.detect import UnknownUpscaleModel, detect, rename_to_basicsr

UPSCALE_VALUES_PER_PIXEL = 2.5  # x sqrt(parameters), per input pixel of a tile
UNKNOWN_SCALE = 4  # a .pth file's scale is not read before it loads: most are x4
TILE = 512  # nodes.ops.upscale.tiling.TILE: the tile side where memory allows
MIN_TILE = 64  # nodes.ops.upscale.tiling.MIN_TILE
FLOAT32 = 4


def load_upscale_model(given: CostInputs) -> NodeCost:
    """Load Upscale Model: the weights (resident where the network computes); its output
    carries the parameter count and the scale (shape: (scale,))."""
    path = ModelPaths.from_settings(given.settings).resolve(
        "upscale_models", given.widgets["model_name"]
    )
    params, scale = path.stat().st_size // FLOAT32, UNKNOWN_SCALE
    header = _safetensors_header(path) if path.suffix.lower() in (".safetensors", ".sft") else None
    if header is not None:
        shapes = {k: tuple(v["shape"]) for k, v in header.items() if isinstance(v, dict)}
        params = sum(math.prod(shape) for shape in shapes.values())
        renamed = rename_to_basicsr(list(shapes))
        with contextlib.suppress(UnknownUpscaleModel, KeyError, IndexError):
            # (what is wrong with a file, its loader names when it runs)
            scale = detect({renamed.get(k, k): s for k, s in shapes.items()}).scale
    model = Estimate(shape=(scale,), params=params)
    return NodeCost({"upscale_model": model}, models={str(path): resident(params, given)})


def tile_working(side: int, params: int, value_bytes: int) -> int:
    """Bytes one tile of `side` input pixels takes through a network of `params`."""
    return int(side * side * UPSCALE_VALUES_PER_PIXEL * math.sqrt(params) * value_bytes)


def tile_side(params: int, value_bytes: int, budget: int | None) -> int:
    """The tile side the node starts with: 512, halved while one tile would take more than
    half the memory budget of the device (so a CPU with 16 GB, an 8 GB budget, runs a
    full-size RRDB in 256-pixel tiles), down to 64."""
    side = TILE
    while budget is not None and side > MIN_TILE:
        if tile_working(side, params, value_bytes) <= budget // 2:
            break
        side //= 2
    return side


def upscale_image(given: CostInputs) -> NodeCost:
    """Upscale Image (using Model): the enlarged images, the blending sums beside them,
    and one tile's activations."""
    source, model = given.link("image"), given.link("upscale_model")
    if len(source.shape) != 4:
        return NodeCost()
    batch, height, width, _ = source.shape
    scale = model.shape[0] if model.shape else UNKNOWN_SCALE
    made = tensor((batch, height * scale, width * scale, 3), source.origin, source.what)
    settings = given.settings
    budget = settings.vram_budget if given.accelerator else settings.ram_budget
    side = tile_side(model.params, given.compute_bytes, budget)
    tile = min(height, side) * min(width, side)
    per_pixel = UPSCALE_VALUES_PER_PIXEL * math.sqrt(model.params) * given.compute_bytes
    working = int(tile * per_pixel) + 2 * made.nbytes // max(1, batch)
    return NodeCost({"image": made}, working + made.nbytes, driver="image")
