"""Image edits with ComfyUI's semantics: scale by a factor, crop, pad for outpainting, batch
two images, paste one image into another through a mask. Images are [B, H, W, 3] in [0, 1],
masks [B, H, W] with 1 = selected."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nodes.ops.pixels.image import resize

# Outpainting fills the new border with mid grey: the VAE's neutral colour, so the encoded
# latent there carries no colour for the sampler to keep.
PAD_GREY = 0.5


def scale_by(pixels: torch.Tensor, factor: float, method: str) -> torch.Tensor:
    """Both sides multiplied by `factor` and rounded (at least one pixel)."""
    height, width = pixels.shape[1:3]
    new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
    return resize(pixels, new_w, new_h, method, "disabled")


def crop(pixels: torch.Tensor, width: int, height: int, x: int, y: int) -> torch.Tensor:
    """The width x height window at (x, y). As in ComfyUI, a corner past the image is moved
    to its last column or row, and the window is cut at the image's edge (so the result is
    at least 1x1 and may be smaller than asked)."""
    x = min(x, pixels.shape[2] - 1)
    y = min(y, pixels.shape[1] - 1)
    return pixels[:, y : y + height, x : x + width].clone()


def outpaint_feather(
    height: int, width: int, sides: tuple[int, int, int, int], feathering: int
) -> torch.Tensor:
    """The mask over the original image: 0 inside, rising as (f - d)^2 / f^2 within
    `feathering` pixels of each padded side (d: distance to that side). ComfyUI skips the
    feather when it is at least half the image's height or width."""
    left, top, right, bottom = sides
    mask = torch.zeros(height, width)
    if feathering <= 0 or 2 * feathering >= height or 2 * feathering >= width:
        return mask
    rows = torch.arange(height, dtype=torch.float32)[:, None]
    cols = torch.arange(width, dtype=torch.float32)[None, :]
    far_h, far_w = torch.full_like(rows, height), torch.full_like(cols, width)
    distance = torch.minimum(
        torch.minimum(rows if top else far_h, height - rows if bottom else far_h),
        torch.minimum(cols if left else far_w, width - cols if right else far_w),
    )
    fade = ((feathering - distance) / feathering).clamp(min=0.0)
    return torch.where(distance < feathering, fade * fade, mask)


def pad_for_outpaint(
    pixels: torch.Tensor, left: int, top: int, right: int, bottom: int, feathering: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(padded image with a grey border, [1, H, W] mask: 1 over the border, feathered into
    the original along the padded sides)."""
    batch, height, width, channels = pixels.shape
    new_h, new_w = height + top + bottom, width + left + right
    padded = torch.full((batch, new_h, new_w, channels), PAD_GREY, dtype=pixels.dtype)
    padded[:, top : top + height, left : left + width] = pixels
    mask = torch.ones(new_h, new_w)
    sides = (left, top, right, bottom)
    mask[top : top + height, left : left + width] = outpaint_feather(
        height, width, sides, feathering
    )
    return padded, mask[None]


def repeat_to_batch(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    """Cycle a batch's items (or cut it) to `batch` items."""
    if tensor.shape[0] == batch:
        return tensor
    times = -(-batch // tensor.shape[0])
    return tensor.repeat(times, *([1] * (tensor.dim() - 1)))[:batch]


def batch(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """One batch of both; the second is scaled (bilinear, centre-cropped to the first's
    aspect ratio) to the first's size when the sizes differ."""
    height, width = first.shape[1:3]
    if second.shape[1:3] != first.shape[1:3]:
        second = resize(second, width, height, "bilinear", "center")
    return torch.cat([first, second.to(first.dtype)])


def composite(
    destination: torch.Tensor,
    source: torch.Tensor,
    x: int,
    y: int,
    mask: torch.Tensor | None,
    resize_source: bool,
) -> torch.Tensor:
    """`source` pasted into `destination` with its top-left corner at (x, y), blended by
    `mask` (scaled to the source's size; 1 = source). The source is first scaled to the
    destination's size when `resize_source`; batches are cycled to the destination's."""
    height, width = destination.shape[1:3]
    if resize_source:
        source = resize(source, width, height, "bilinear", "disabled")
    return paste(destination, source, x, y, mask)


def paste(
    destination: torch.Tensor, source: torch.Tensor, x: int, y: int, mask: torch.Tensor | None
) -> torch.Tensor:
    """Channels-last [B, H, W, C] `source` laid into `destination` at (x, y) through `mask`
    (scaled to the source), cut at the edge; works for images and latents alike."""
    out = destination.clone()
    height, width = destination.shape[1:3]
    source = repeat_to_batch(source, destination.shape[0])
    x, y = min(x, width), min(y, height)
    visible_h, visible_w = min(source.shape[1], height - y), min(source.shape[2], width - x)
    if visible_h <= 0 or visible_w <= 0:
        return out
    if mask is None:
        weight = torch.ones(source.shape[0], *source.shape[1:3], 1)
    else:
        flat = mask.reshape(-1, 1, *mask.shape[-2:]).to(torch.float32)
        weight = F.interpolate(flat, size=source.shape[1:3], mode="bilinear")
        weight = repeat_to_batch(weight, source.shape[0]).movedim(1, -1)
    weight = weight[:, :visible_h, :visible_w]
    region = out[:, y : y + visible_h, x : x + visible_w]
    pasted = source[:, :visible_h, :visible_w].to(out.dtype)
    out[:, y : y + visible_h, x : x + visible_w] = pasted * weight + region * (1 - weight)
    return out


def composite_latent(
    destination: torch.Tensor,
    source: torch.Tensor,
    x: int,
    y: int,
    mask: torch.Tensor | None,
    resize_source: bool,
) -> torch.Tensor:
    """Latents [B, C, h, w]: `source` pasted at pixel (x, y) (whole latent cells: x // 8,
    y // 8) through `mask`; `resize_source` scales it (bilinear) to the destination first."""
    if resize_source:
        source = F.interpolate(source, size=destination.shape[-2:], mode="bilinear")
    out = paste(destination.movedim(1, -1), source.movedim(1, -1), x // 8, y // 8, mask)
    return out.movedim(-1, 1).contiguous()


def pick(pixels: torch.Tensor, batch_index: int, length: int) -> torch.Tensor:
    """`length` images from `batch_index` on (negative: from the end), both clamped to the
    batch as ComfyUI does."""
    count = pixels.shape[0]
    if batch_index < 0:
        batch_index += count
    start = max(0, min(count - 1, batch_index))
    return pixels[start : start + min(count - start, length)].clone()


def flip(pixels: torch.Tensor, method: str) -> torch.Tensor:
    """ "x-axis: vertically" turns the image upside down, "y-axis: horizontally" mirrors it."""
    return torch.flip(pixels, dims=[1] if method.startswith("x") else [2])


def rotate(pixels: torch.Tensor, rotation: str) -> torch.Tensor:
    """Clockwise by "none", "90 degrees", "180 degrees" or "270 degrees"."""
    turns = {"none": 0, "90 degrees": 1, "180 degrees": 2, "270 degrees": 3}[rotation]
    return torch.rot90(pixels, k=turns, dims=[2, 1]).contiguous()


COLOURS = {
    "white": (1.0, 1.0, 1.0),
    "black": (0.0, 0.0, 0.0),
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
}


def _pad_centred(pixels: torch.Tensor, size: int, dim: int, value: float) -> torch.Tensor:
    """Pad along `dim` (1: height, 2: width) to `size`, half before and half after."""
    missing = size - pixels.shape[dim]
    if missing <= 0:
        return pixels
    sides = (missing // 2, missing - missing // 2)
    padding = (0, 0, *sides) if dim == 2 else (0, 0, 0, 0, *sides)
    return F.pad(pixels, padding, value=value)


def _extend_batch(pixels: torch.Tensor, batch: int) -> torch.Tensor:
    """Repeat the last image until the batch has `batch` images."""
    extra = batch - pixels.shape[0]
    return torch.cat([pixels, pixels[-1:].repeat(extra, 1, 1, 1)]) if extra > 0 else pixels


def stitch(
    first: torch.Tensor,
    second: torch.Tensor,
    direction: str,
    match_size: bool,
    spacing: int,
    colour: str,
) -> torch.Tensor:
    """`second` placed beside `first` (right, down, left or up) as ComfyUI's Image Stitch:
    scaled (lanczos) to share `first`'s height or width, or else centred on a padding
    (white, black, or black for the other colours, as ComfyUI); an even `spacing` band of
    `colour` between them; the shorter batch repeats its last image."""
    batch = max(first.shape[0], second.shape[0])
    first, second = _extend_batch(first, batch), _extend_batch(second, batch).to(first.dtype)
    across = direction in ("left", "right")
    concat_dim, other_dim = (2, 1) if across else (1, 2)
    if match_size:
        h1, w1 = first.shape[1:3]
        aspect = second.shape[2] / second.shape[1]
        size = (h1, max(1, int(h1 * aspect))) if across else (max(1, int(w1 / aspect)), w1)
        second = resize(second, size[1], size[0], "lanczos", "disabled")
    else:
        pad_value = {"white": 1.0}.get(colour, 0.0)
        common = max(first.shape[other_dim], second.shape[other_dim])
        first = _pad_centred(first, common, other_dim, pad_value)
        second = _pad_centred(second, common, other_dim, pad_value)
    parts = [second, first] if direction in ("left", "up") else [first, second]
    if spacing > 0:
        shape = list(first.shape)
        shape[other_dim] = max(first.shape[other_dim], second.shape[other_dim])
        shape[concat_dim] = spacing + spacing % 2
        band = torch.tensor(COLOURS[colour], dtype=first.dtype).expand(*shape)
        parts.insert(1, band)
    return torch.cat(parts, dim=concat_dim)


def resize_and_pad(
    pixels: torch.Tensor, width: int, height: int, colour: str, method: str
) -> torch.Tensor:
    """Scaled to fit inside width x height (aspect ratio kept, sizes truncated as ComfyUI)
    and centred on white or black."""
    old_h, old_w = pixels.shape[1:3]
    scale = min(width / old_w, height / old_h)
    new_w, new_h = max(1, int(old_w * scale)), max(1, int(old_h * scale))
    fitted = resize(pixels, new_w, new_h, method, "disabled")
    out = torch.full((pixels.shape[0], height, width, 3), COLOURS[colour][0], dtype=pixels.dtype)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[:, top : top + new_h, left : left + new_w] = fitted
    return out
