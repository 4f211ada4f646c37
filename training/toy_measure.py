"""Reading a toy-world picture back from its pixels: background and shape colour, position,
size and kind of shape, and the shape's mask (for the ControlNet's silhouette IoU).

One implementation for the evaluation script (bench/toy_eval.py), the training-time checks
(training/toy_eval.py) and the tests. On toy_data's own drawings it reads ~100% right.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from training.toy_data import COLORS, POSITIONS, SHAPES, SIZE, Scene, draw

ATTRIBUTES = ("background", "color", "position", "size", "shape")
MIN_IOU = 0.7  # a rendered shape counts as following its silhouette from this IoU
BORDER = 2  # px of the picture's edge whose median colour is the background
POSITION_RADIUS = 12.0  # px from a named position's centre that still counts as there
LARGE_EXTENT = 23  # bounding-box side in px: small shapes are 14-18, large ones 28-32
MIN_MATCH = 0.6  # IoU with the best-fitting ideal shape below which no shape is named
PALETTE_NAMES = tuple(COLORS)
PALETTE = np.array([COLORS[n] for n in PALETTE_NAMES], dtype=np.float64)
YS, XS = np.mgrid[0:SIZE, 0:SIZE] + 0.5  # pixel centres


@dataclass
class Observation:
    """What a picture shows, read from its pixels (None: no shape found)."""

    background: str
    color: str | None = None
    position: str | None = None
    size: str | None = None
    shape: str | None = None
    mask: np.ndarray = field(default_factory=lambda: np.zeros((SIZE, SIZE), dtype=bool))


def nearest_color(rgb: np.ndarray) -> str:
    return PALETTE_NAMES[int(np.argmin(((PALETTE - rgb) ** 2).sum(axis=1)))]


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The biggest 4-connected region of a boolean mask."""
    h, w = mask.shape
    inside = mask.tolist()
    seen = [[False] * w for _ in range(h)]
    best: list[tuple[int, int]] = []
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0][x0]:
            continue
        seen[y0][x0] = True
        stack, region = [(int(y0), int(x0))], []
        while stack:
            y, x = stack.pop()
            region.append((y, x))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and inside[ny][nx] and not seen[ny][nx]:
                    seen[ny][nx] = True
                    stack.append((ny, nx))
        if len(region) > len(best):
            best = region
    out = np.zeros_like(mask, dtype=bool)
    if best:
        ys, xs = zip(*best, strict=True)
        out[list(ys), list(xs)] = True
    return out


def shape_mask(pixels: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask, coverage) of the shape: pixels at least half way from the background colour
    to the shape's colour, the largest connected region of them."""
    away = np.linalg.norm(pixels - background, axis=-1)
    others = np.linalg.norm(PALETTE - background, axis=1)
    loose = largest_component(away > max(20.0, 0.5 * np.sort(others)[1]))
    if loose.sum() < 4:
        return np.zeros(away.shape, dtype=bool), np.zeros(away.shape)
    direction = np.median(pixels[loose], axis=0) - background
    coverage = (pixels - background) @ direction / max(float(direction @ direction), 1.0)
    return largest_component(coverage > 0.5), coverage


def shape_matches(mask: np.ndarray) -> dict[str, float]:
    """IoU of the mask with an ideal square, circle and (upright) triangle of the same area
    and centroid. Unlike a bounding box's fill ratio, a stray pixel on the edge or rounded
    corners barely move it."""
    area = float(mask.sum())
    cy, cx = YS[mask].mean(), XS[mask].mean()
    side, height = math.sqrt(area), math.sqrt(2 * area)  # the triangle's base = its height
    middle = cy - height / 6  # a triangle's centroid is a third of the way up from its base
    ideal = {
        "square": (abs(XS - cx) <= side / 2) & (abs(YS - cy) <= side / 2),
        "circle": (XS - cx) ** 2 + (YS - cy) ** 2 <= area / math.pi,
        "triangle": (abs(YS - middle) <= height / 2)
        & (abs(XS - cx) <= (YS - middle + height / 2) / 2),
    }
    return {name: iou(mask, shape) for name, shape in ideal.items()}


def observe(image: np.ndarray) -> Observation:
    """Read a [64, 64, 3] uint8 picture: background, and the shape's colour, position,
    size and kind."""
    pixels = image.astype(np.float64)
    ring = np.ones(pixels.shape[:2], dtype=bool)
    ring[BORDER:-BORDER, BORDER:-BORDER] = False
    background = np.median(pixels[ring], axis=0)
    seen = Observation(nearest_color(background))
    mask, coverage = shape_mask(pixels, background)
    if mask.sum() < 16:
        return seen
    core = mask & (coverage > 0.75)
    seen.color = nearest_color(np.median(pixels[core if core.sum() >= 8 else mask], axis=0))
    ys, xs = np.nonzero(mask)
    width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    centre = ((xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2)  # the box's centre
    where, distance = min(
        ((name, math.dist(centre, anchor)) for name, anchor in POSITIONS.items()),
        key=lambda pair: pair[1],
    )
    seen.position = where if distance <= POSITION_RADIUS else None
    seen.size = "large" if max(width, height) > LARGE_EXTENT else "small"
    matches = shape_matches(mask)
    best = max(SHAPES, key=matches.__getitem__)
    seen.shape = best if matches[best] >= MIN_MATCH else None
    seen.mask = mask
    return seen


def measure(image: np.ndarray, scene: Scene) -> dict[str, bool]:
    """Each attribute of `scene`: whether the picture shows it."""
    seen = observe(image)
    return {a: getattr(seen, a) == getattr(scene, a) for a in ATTRIBUTES}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def silhouette(scene: Scene, index: int) -> np.ndarray:
    """The scene's jittered silhouette as a boolean mask (the ControlNet's control image)."""
    _, mask = draw(scene, random.Random(1000 + index))
    return np.asarray(mask) > 127


def ground_truth_rates(scenes: Sequence[Scene], jitter: bool = True) -> dict[str, float]:
    """The measures on toy_data's own drawings (should be ~1.0 everywhere)."""
    hits: Counter[str] = Counter()
    for i, scene in enumerate(scenes):
        picture, mask = draw(scene, random.Random(i) if jitter else None)
        image = np.asarray(picture)
        hits.update(a for a, ok in measure(image, scene).items() if ok)
        hits["controlnet"] += iou(observe(image).mask, np.asarray(mask) > 127) >= MIN_IOU
    return {k: hits[k] / len(scenes) for k in (*ATTRIBUTES, "controlnet")}
