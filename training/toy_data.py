"""The toy world the embedded model is trained on: one shape on a plain background.

Every image is described by a `Scene` (shape, colour, size, position, background) and drawn
at 64x64; its caption reads like "a large red circle on the left, blue background". The same
definitions (palette, regions, sizes) are what the evaluation measures against, so they live
here once. Deterministic: scene i of seed s is always the same picture.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
SHAPES = ("circle", "square", "triangle")
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "purple": (140, 60, 180),
    "orange": (245, 140, 30),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SIZES = {"small": 8, "large": 15}  # half the shape's extent, in pixels
POSITIONS: dict[str, tuple[int, int]] = {  # the shape's centre (x, y)
    "left": (17, 32),
    "right": (47, 32),
    "top": (32, 17),
    "bottom": (32, 47),
    "center": (32, 32),
}
JITTER = 3  # pixels the centre may move, so the model learns regions, not points
SIZE_JITTER = 1


@dataclass(frozen=True)
class Scene:
    shape: str
    color: str
    size: str
    position: str
    background: str

    @property
    def caption(self) -> str:
        where = "in the center" if self.position == "center" else f"on the {self.position}"
        return f"a {self.size} {self.color} {self.shape} {where}, {self.background} background"


def all_scenes() -> list[Scene]:
    """Every combination, the shape never the colour of its background."""
    return [
        Scene(shape, color, size, position, background)
        for shape in SHAPES
        for color in COLORS
        for size in SIZES
        for position in POSITIONS
        for background in COLORS
        if background != color
    ]


def random_scene(rng: random.Random) -> Scene:
    color, background = rng.sample(sorted(COLORS), 2)
    return Scene(
        rng.choice(SHAPES),
        color,
        rng.choice(sorted(SIZES)),
        rng.choice(sorted(POSITIONS)),
        background,
    )


def outline(scene: Scene, dx: int = 0, dy: int = 0, dr: int = 0) -> list[tuple[float, float]]:
    """The shape's polygon (a circle as many points), centre moved by (dx, dy)."""
    cx, cy = POSITIONS[scene.position]
    cx, cy, r = cx + dx, cy + dy, SIZES[scene.size] + dr
    if scene.shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if scene.shape == "triangle":  # pointing up, its box as wide and tall as the square's
        return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles]


def draw(scene: Scene, rng: random.Random | None = None) -> tuple[Image.Image, Image.Image]:
    """(RGB picture, silhouette mask 'L') of a scene; `rng` jitters place and size."""
    dx = dy = dr = 0
    if rng is not None:
        dx, dy = rng.randint(-JITTER, JITTER), rng.randint(-JITTER, JITTER)
        dr = rng.randint(-SIZE_JITTER, SIZE_JITTER)
    # Drawn at 4x and scaled down: antialiased edges, like a photograph of a shape.
    scale = 4
    big = Image.new("RGB", (SIZE * scale, SIZE * scale), COLORS[scene.background])
    mask = Image.new("L", big.size, 0)
    points = [(x * scale, y * scale) for x, y in outline(scene, dx, dy, dr)]
    ImageDraw.Draw(big).polygon(points, fill=COLORS[scene.color])
    ImageDraw.Draw(mask).polygon(points, fill=255)
    small = Image.Resampling.LANCZOS
    return big.resize((SIZE, SIZE), small), mask.resize((SIZE, SIZE), Image.Resampling.BILINEAR)


def dataset(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`count` jittered scenes: images uint8 [N, 64, 64, 3], masks uint8 [N, 64, 64],
    captions."""
    rng = random.Random(seed)
    images = np.zeros((count, SIZE, SIZE, 3), dtype=np.uint8)
    masks = np.zeros((count, SIZE, SIZE), dtype=np.uint8)
    captions = []
    for i in range(count):
        scene = random_scene(rng)
        picture, silhouette = draw(scene, rng)
        images[i] = np.asarray(picture)
        masks[i] = np.asarray(silhouette)
        captions.append(scene.caption)
    return images, masks, captions
