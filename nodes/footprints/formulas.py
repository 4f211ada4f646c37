"""The memory estimates of diffgraph's node kinds (their `cost` hooks, `engine.footprint`),
without torch: what weight files hold, read from their headers, and how much a network
works in, per latent cell or pixel, from its parameter count.

Activations grow with a network's channel width, and the width with the square root of
its parameters; the coefficients below were measured on the embedded toy model in float32
(UNet 4.2M parameters: 11-16 KB per latent cell and pass; VAE 1M: 400-700 bytes per pixel
of a pass) and rounded up by about half. For SD 1.5's VAE they give 2.9 GB to decode one
512x512 image in float32, what it takes. They are estimates meant to keep a job from
taking the machine down, not to predict its peak to the megabyte.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.context import NodeInputError
from engine.footprint import CostInputs, Estimate, NodeCost, tensor

DENOISER_VALUES_PER_CELL = 2.0  # x sqrt(parameters), per latent cell and network pass
VAE_VALUES_PER_PIXEL = 0.25  # x sqrt(parameters), per pixel the VAE works on at once
VAE_PASS_IMAGES = 4  # images per VAE pass (nodes.ops.pixels.vae.CHUNK)
VAE_TILE_ABOVE = 1024 * 1024  # pixels per image above which the VAE tiles (same module)
VAE_TILE_PIXELS = 512 * 512  # what one tile of a tiled pass works on, at most
SAMPLER_LATENT_COPIES = 6  # x, noise, the estimate, the step's derivative, output, source
SAVE_IMAGE_COPIES = 4  # float copies of one image while it becomes a PNG
# Without a header to read (pickles), a checkpoint is taken to split as SD 1.5's does.
UNKNOWN_SPLIT = {"denoiser": 0.80, "vae": 0.08, "text": 0.12}
# Tensor key prefixes of single-file checkpoints (SD, SDXL, Flux all-in-one) by part.
PREFIXES = {
    "vae": ("first_stage_model.", "vae."),
    "text": ("cond_stage_model.", "conditioner.", "text_encoders.", "text_encoder"),
}
FOLDERS = {"vae": "vae", "text_encoder": "text", "text_encoder_2": "text", "tokenizer": ""}
DTYPE_BYTES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "I16": 2}
HALF = 2  # bytes per parameter assumed where a file does not say


def weight_params(path: Path) -> dict[str, int]:
    """Parameters of a weight file (or diffusers folder) by part: denoiser, vae, text."""
    stat = path.stat()
    return dict(_weight_params(str(path), f"{stat.st_size}-{stat.st_mtime_ns}"))


@functools.lru_cache(maxsize=64)  # keyed by the file's identity: a replaced file is re-read
def _weight_params(path: str, identity: str) -> tuple[tuple[str, int], ...]:
    where = Path(path)
    if where.is_dir():
        return tuple(_folder_params(where).items())
    if where.suffix.lower() in (".safetensors", ".sft"):
        header = _safetensors_header(where)
        if header is not None:
            return tuple(_header_params(header).items())
    total = where.stat().st_size // HALF
    return tuple((part, int(total * share)) for part, share in UNKNOWN_SPLIT.items())


def _safetensors_header(path: Path) -> dict[str, Any] | None:
    with open(path, "rb") as file:
        length = int.from_bytes(file.read(8), "little")
        if not 2 <= length <= 100_000_000:
            return None  # not a sound file: its loader will say so
        try:
            header = json.loads(file.read(length))
        except (ValueError, UnicodeDecodeError):
            return None
    return header if isinstance(header, dict) else None


def _header_params(header: dict[str, Any]) -> dict[str, int]:
    params = {"denoiser": 0, "vae": 0, "text": 0}
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        count = math.prod(int(n) for n in info.get("shape", ()))
        part = next((p for p, starts in PREFIXES.items() if name.startswith(starts)), "denoiser")
        params[part] += count
    return params


def _folder_params(folder: Path) -> dict[str, int]:
    """A diffusers folder: each component's files, by its subfolder."""
    params = {"denoiser": 0, "vae": 0, "text": 0}
    for file in folder.rglob("*"):
        parts = file.relative_to(folder).parts
        part = FOLDERS.get(parts[0], "denoiser") if len(parts) > 1 else "denoiser"
        if part and file.is_file():
            params[part] += file.stat().st_size // HALF
    return params


def resident(params: int, given: CostInputs) -> int:
    """Bytes of weights in memory where the networks compute."""
    return params * given.compute_bytes


def denoiser_working(latent: Estimate, params: int, passes: int, given: CostInputs) -> int:
    """A sampler's memory: the network's activations over every latent cell of the batch
    in each of its passes per step, and the sampler's own latent copies."""
    batch, _, height, width = (*latent.shape, 1, 1, 1, 1)[:4]
    per_cell = DENOISER_VALUES_PER_CELL * math.sqrt(params) * given.compute_bytes
    return int(batch * height * width * passes * per_cell) + SAMPLER_LATENT_COPIES * latent.nbytes


def vae_working(batch: int, height: int, width: int, params: int, given: CostInputs) -> int:
    """A VAE pass: `VAE_PASS_IMAGES` images at once, or one tile of a large image."""
    pixels = height * width
    at_once = VAE_TILE_PIXELS if pixels > VAE_TILE_ABOVE else min(batch, VAE_PASS_IMAGES) * pixels
    return int(at_once * VAE_VALUES_PER_PIXEL * math.sqrt(params) * given.compute_bytes)


def latent(batch: int, channels: int, width: int, height: int, origin: tuple[str, str]) -> Estimate:
    what = f"{_count(batch, 'latent')} of {width}x{height} pixels"
    return tensor((batch, channels, height // 8, width // 8), origin, what)


def image(batch: int, width: int, height: int, origin: tuple[str, str]) -> Estimate:
    what = f"{_count(batch, 'image')} of {width}x{height} pixels"
    return tensor((batch, height, width, 3), origin, what)


def _count(number: int, noun: str) -> str:
    return f"a {noun}" if number == 1 else f"{number:,} {noun}s"


def size_origin(given: CostInputs) -> tuple[str, str]:
    """The widget a user would shrink: the batch when there is one, else the longer side."""
    widgets = given.widgets
    if int(widgets.get("batch_size", 1)) > 1:
        return (given.node_id, "batch_size")
    tall = int(widgets.get("height", 0)) > int(widgets.get("width", 0))
    return (given.node_id, "height" if tall else "width")


def least_tokens(text: str, limit: int) -> int:
    """A lower bound on the tokens of `text` for CLIP's and T5's tokenizers (every run of
    letters, digits or underscores is at least one token), counted up to `limit` + 1 so
    that a megabyte of text costs no more than a short prompt."""
    count = 0
    for _ in re.finditer(r"\w+", text):
        count += 1
        if count > limit:
            break
    return count


def check_prompts(given: CostInputs, names: tuple[str, ...], limit: int) -> None:
    """Refuse a prompt input whose text is certainly longer than `limit` tokens."""
    for name in names:
        text = given.widgets.get(name)
        if isinstance(text, str) and least_tokens(text, limit) > limit:
            raise NodeInputError(
                name,
                f"the prompt has more than {limit:,} tokens ({len(text):,} characters); at "
                f"most {limit:,} are encoded",
            )


def hook(cost: Callable[[CostInputs], NodeCost]) -> Any:
    """`cost = hook(function)` in a node class: the function as its `cost` classmethod."""

    def method(cls: type, given: CostInputs) -> NodeCost:
        return cost(given)

    return classmethod(method)
