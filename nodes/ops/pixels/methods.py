"""The resize methods the scale nodes offer, as ComfyUI lists them (torch-free, so node
declarations can import them when their module loads)."""

from __future__ import annotations

from typing import Literal

# Upscale Latent (By): "bislerp" slerps between neighbouring latent vectors (bislerp.py).
LatentUpscaleMethod = Literal["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]
# Upscale Image (By): "lanczos" goes through PIL.
ImageUpscaleMethod = Literal["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
