"""Rendering captions with the project's own sampler during training, and judging the
pictures with the shared pixel measures (training/toy_measure.py)."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.types import ConditioningPart, Latent
from nodes.ops.families.sd.loading import SCHEDULE
from nodes.ops.families.sd.unet_call import ControlSpec
from nodes.ops.pixels import vae as vae_ops
from nodes.ops.sampling.sample import SampleSettings, sample
from training import toy_data
from training.toy_data import Scene
from training.toy_measure import ATTRIBUTES, iou, measure, observe
from training.toy_models import encode_text, token_ids


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
    control_negative: bool = True,
) -> np.ndarray:
    """uint8 [N, 64, 64, 3]: each caption rendered (image i with seed + i) by euler/normal.

    `parts` holds "unet", "text", "vae", "scale" and, for `hints` [N, 64, 64, 3] in [0, 1],
    "controlnet" (applied to the prompt and, unless not `control_negative`, to the empty
    negative too, as Apply ControlNet (Advanced) and the toy ControlNet workflow do)."""
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


def judge(image: np.ndarray) -> dict[str, str]:
    """What a picture shows, read from its pixels ("none" where no shape was found)."""
    seen = observe(image)
    return {a: getattr(seen, a) or "none" for a in ATTRIBUTES}


def score(images: np.ndarray, scenes: list[Scene]) -> dict[str, float]:
    """Share of pictures whose attribute matches its scene, per attribute."""
    hits = dict.fromkeys(ATTRIBUTES, 0)
    for image, scene in zip(images, scenes, strict=True):
        for key, ok in measure(image, scene).items():
            hits[key] += ok
    return {k: v / len(scenes) for k, v in hits.items()}


def silhouette_iou(image: np.ndarray, hint_mask: np.ndarray) -> float:
    return iou(observe(image).mask, hint_mask > 127)


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
