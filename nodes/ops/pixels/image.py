"""Image tensors: [batch, height, width, 3] float32 in [0, 1] (masks drop the last axis)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image as PILImage
from PIL import ImageOps

from engine.context import check_interrupt
from engine.paths import safe_join
from formats.png import png_info

# Elements filled between two looks at the interrupt flag: 64 MB of float32, a few tens of
# milliseconds, so even one 16384x16384 image is cut short within a second.
FILL_ELEMENTS = 1 << 24


def solid(width: int, height: int, batch: int, color: int) -> torch.Tensor:
    rgb = torch.tensor([(color >> 16) & 255, (color >> 8) & 255, color & 255]) / 255.0
    pixels = torch.empty(batch, height, width, 3)
    rows_per_fill = max(1, FILL_ELEMENTS // (width * 3))
    for rows in pixels.view(-1, width, 3).split(rows_per_fill):
        check_interrupt()
        rows.copy_(rgb.expand_as(rows))
    return pixels


def per_item(pixels: torch.Tensor, work: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """`work` on each image of a batch (a [1, H, W, C] slice) into one output, honouring
    an interrupt between images: a batch of thousands, or of huge images, takes long."""
    first = work(pixels[:1])
    out = first.new_empty((len(pixels), *first.shape[1:]))
    out[:1] = first
    for i in range(1, len(pixels)):
        check_interrupt()
        out[i : i + 1] = work(pixels[i : i + 1])
    return out


def invert(pixels: torch.Tensor) -> torch.Tensor:
    return per_item(pixels, lambda image: 1.0 - image)


def target_size(height: int, width: int, new_width: int, new_height: int) -> tuple[int, int]:
    """(height, width) to scale to; a 0 keeps the aspect ratio from the other side."""
    if new_width == 0 and new_height == 0:
        return height, width
    if new_width == 0:
        return new_height, max(1, round(width * new_height / height))
    if new_height == 0:
        return max(1, round(height * new_width / width)), new_width
    return new_height, new_width


def center_crop(pixels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop the middle of each image to the aspect ratio of height:width."""
    h, w = pixels.shape[1:3]
    if w * height > h * width:  # too wide
        keep = round(h * width / height)
        x = (w - keep) // 2
        return pixels[:, :, x : x + keep]
    keep = round(w * height / width)
    y = (h - keep) // 2
    return pixels[:, y : y + keep]


def resize(pixels: torch.Tensor, width: int, height: int, method: str, crop: str) -> torch.Tensor:
    new_h, new_w = target_size(pixels.shape[1], pixels.shape[2], width, height)
    if crop == "center":
        pixels = center_crop(pixels, new_h, new_w)
    if method == "lanczos":
        return torch.cat(
            [
                from_pil(to_pil(p).resize((new_w, new_h), PILImage.Resampling.LANCZOS))[0]
                for p in pixels
            ]
        )
    mode = "nearest-exact" if method == "nearest-exact" else method
    smooth = method in ("bilinear", "bicubic")

    def scale(image: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(image.movedim(-1, 1), (new_h, new_w), mode=mode, antialias=smooth)
        return out.movedim(1, -1).clamp(0.0, 1.0)

    return per_item(pixels, scale)


def to_pil(pixels: torch.Tensor) -> PILImage.Image:
    """One [height, width, 3] image -> PIL."""
    array = (pixels.detach().cpu().float().clamp(0, 1).numpy() * 255.0).round()
    return PILImage.fromarray(array.astype(np.uint8))


def from_pil(image: PILImage.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """PIL -> ([1, h, w, 3] pixels, [1, h, w] mask). The mask is 1 where the image is
    transparent (as in ComfyUI: the painted-out area is what to inpaint)."""
    image = ImageOps.exif_transpose(image)
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    pixels = torch.from_numpy(rgba[..., :3].copy())[None]
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    alpha = torch.from_numpy(rgba[..., 3].copy())[None]
    mask = 1.0 - alpha if has_alpha else torch.zeros_like(alpha)
    return pixels, mask


def load(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    with PILImage.open(path) as image:
        return from_pil(image)


def next_counter(folder: Path, stem: str) -> int:
    pattern = re.compile(rf"^{re.escape(stem)}_(\d+)_\.png$")
    numbers = [int(m.group(1)) for p in folder.glob("*.png") if (m := pattern.match(p.name))]
    return max(numbers, default=0) + 1


def save_png(
    pixels: torch.Tensor, root: Path, prefix: str, texts: dict[str, str]
) -> list[tuple[str, str]]:
    """Save each image as `prefix_00001_.png` under root (prefix may name a subfolder).
    Returns (filename, subfolder) pairs. Raises UnsafePath for a prefix leaving root."""
    target = safe_join(root, prefix + "_")
    folder, stem = target.parent, target.name[:-1]
    folder.mkdir(parents=True, exist_ok=True)
    subfolder = folder.relative_to(root.resolve()).as_posix()
    subfolder = "" if subfolder == "." else subfolder
    counter = next_counter(folder, stem)
    info = png_info(texts)
    saved = []
    for offset, image in enumerate(pixels):
        check_interrupt()  # each PNG takes a while to compress
        name = f"{stem}_{counter + offset:05d}_.png"
        to_pil(image).save(folder / name, pnginfo=info, compress_level=4)
        saved.append((name, subfolder))
    return saved
