"""Memory estimates of the upscale-model nodes (no torch): the weights from the file's
header, and per tile the network's activations, which for these networks are dominated by
the feature maps after upsampling (tens of channels at scale^2 the tile's pixels)."""

from __future__ import annotations

import contextlib
import math

from engine.footprint import CostInputs, Estimate, NodeCost, tensor
from engine.model_paths import ModelPaths
from nodes.footprints.formulas import _safetensors_header, resident
from nodes.ops.upscale.detect import UnknownUpscaleModel, detect, rename_to_basicsr

UPSCALE_VALUES_PER_PIXEL = 0.75  # x sqrt(parameters), per input pixel of a tile
UNKNOWN_SCALE = 4  # a .pth file's scale is not read before it loads: most are x4
TILE = 512  # nodes.ops.upscale.tiling.TILE
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


def upscale_image(given: CostInputs) -> NodeCost:
    """Upscale Image (using Model): the enlarged images, the blending sums beside them,
    and one tile's activations."""
    source, model = given.link("image"), given.link("upscale_model")
    if len(source.shape) != 4:
        return NodeCost()
    batch, height, width, _ = source.shape
    scale = model.shape[0] if model.shape else UNKNOWN_SCALE
    made = tensor((batch, height * scale, width * scale, 3), source.origin, source.what)
    tile_pixels = min(height, TILE) * min(width, TILE)
    per_pixel = UPSCALE_VALUES_PER_PIXEL * math.sqrt(model.params) * given.compute_bytes
    working = int(tile_pixels * per_pixel) + 2 * made.nbytes // max(1, batch)
    return NodeCost({"image": made}, working + made.nbytes, driver="image")
