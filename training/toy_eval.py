"""Rendering captions with the project's own sampler, and judging the pictures from pixels:
background and shape colour, position, size and shape kind, and a silhouette's IoU."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.types import ConditioningPart, Latent
from nodes.ops import vae as vae_ops
from nodes.ops.denoiser import ControlSpec
from nodes.ops.loading import SCHEDULE
from nodes.ops.sampling import SampleSettings, sample
from training import toy_data
from training.toy_data import COLORS, POSITIONS, Scene
from training.toy_models import encode_text, token_ids

PALETTE = np.array(list(COLORS.values()), dtype=np.float32)
NAMES = list(COLORS)


def eval_scenes(count: int = 48, seed: int = 1234) -> list[Scene]:
    rng = random.Random(seed)
    return [toy_data.random_scene(rng) for _ in range(count)]


@torch.no_grad()
def render(
    parts: dict[str, Any],
    captions: list[str],
    seed: int = 0,
    steps: int = 20,
    cfg: float = 7.0,
    hints: torch.Tensor | None = None,
    control_negative: bool = False,
) -> np.ndarray:
    """uint8 [N, 64, 64, 3]: each caption rendered (image i with seed + i) by euler/normal.

    `parts` holds "unet", "text", "vae", "scale" and, for `hints` [N, 64, 64, 3] in [0, 1],
    "controlnet" (applied to the prompt, and to the empty negative if `control_negative`)."""
    text = parts["text"]
    positive = encode_text(text, token_ids(captions)).float()
    negative = encode_text(text, token_ids([""] * len(captions))).float()
    pos_extras: dict[str, Any] = {}
    neg_extras: dict[str, Any] = {}
    if hints is not None:
        held = SimpleNamespace(handle=SimpleNamespace(get=lambda: parts["controlnet"]))
        pos_extras["control"] = ControlSpec(held, hints, 1.0)
        if control_negative:
            neg_extras["control"] = ControlSpec(held, hints, 1.0)
    config = {"latent_scale": parts["scale"], "schedule": dict(SCHEDULE)}
    latent = Latent(samples=torch.zeros(len(captions), 4, 8, 8))
    settings = SampleSettings(seed, steps, cfg, "euler", "normal")
    samples = sample(
        parts["unet"],
        config,
        [ConditioningPart(positive, None, pos_extras)],
        [ConditioningPart(negative, None, neg_extras)],
        latent,
        settings,
    )
    pixels = vae_ops.decode(parts["vae"], samples)
    return (pixels.numpy() * 255).round().astype(np.uint8)


def nearest_color(rgb: np.ndarray) -> str:
    return NAMES[int(np.argmin(((PALETTE - rgb) ** 2).sum(-1)))]


def shape_mask(image: np.ndarray) -> tuple[np.ndarray, str]:
    """(pixels nearer the shape's colour than the background's, the background's name)."""
    pixels = image.astype(np.float32)
    border = np.concatenate(
        [
            pixels[:2].reshape(-1, 3),
            pixels[-2:].reshape(-1, 3),
            pixels[:, :2].reshape(-1, 3),
            pixels[:, -2:].reshape(-1, 3),
        ]
    )
    background = np.median(border, axis=0)
    to_background = np.sqrt(((pixels - background) ** 2).sum(-1))
    far = to_background > max(30.0, 0.5 * float(np.percentile(to_background, 99.5)))
    if far.sum() < 20:
        return far, nearest_color(background)
    shape = np.median(pixels[far], axis=0)
    to_shape = np.sqrt(((pixels - shape) ** 2).sum(-1))
    return (to_shape < to_background) & (to_background > 20.0), nearest_color(background)


def judge(image: np.ndarray) -> dict[str, str]:
    """What a picture shows, read from its pixels."""
    mask, background = shape_mask(image)
    found = {
        "background": background,
        "color": "none",
        "position": "none",
        "size": "none",
        "shape": "none",
    }
    area = int(mask.sum())
    if area < 20:
        return found
    ys, xs = np.nonzero(mask)
    found["color"] = nearest_color(np.median(image[mask].astype(np.float32), axis=0))
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    height, width = bottom - top + 1, right - left + 1
    # The box centre (a triangle's centroid sits low in its box).
    bx, by = (left + right) / 2, (top + bottom) / 2
    found["position"] = min(
        POSITIONS, key=lambda p: (POSITIONS[p][0] - bx) ** 2 + (POSITIONS[p][1] - by) ** 2
    )
    found["size"] = "large" if max(height, width) > 23 else "small"
    fill = area / max(1.0, height * width)
    found["shape"] = "triangle" if fill < 0.64 else "circle" if fill < 0.89 else "square"
    return found


def score(images: np.ndarray, scenes: list[Scene]) -> dict[str, float]:
    """Share of pictures whose attribute matches its scene, per attribute."""
    keys = ("background", "color", "position", "size", "shape")
    hits = dict.fromkeys(keys, 0)
    for image, scene in zip(images, scenes, strict=True):
        found = judge(image)
        for key in keys:
            hits[key] += found[key] == getattr(scene, key)
    return {k: v / len(scenes) for k, v in hits.items()}


def silhouette_iou(image: np.ndarray, hint_mask: np.ndarray) -> float:
    mask, _ = shape_mask(image)
    target = hint_mask > 127
    union = (mask | target).sum()
    return float((mask & target).sum() / union) if union else 0.0


def save_grid(images: np.ndarray, path: Path, cols: int, scale: int = 2) -> None:
    """Tiles [N, 64, 64, 3] row by row, `cols` to a row, 2 pixels apart, upscaled."""
    rows = -(-len(images) // cols)
    size = images.shape[1]
    grid = np.full((rows * (size + 2), cols * (size + 2), 3), 128, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (size + 2) : r * (size + 2) + size, c * (size + 2) : c * (size + 2) + size] = image
    picture = Image.fromarray(grid)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
