"""Workflows carried inside PNG files as text chunks.

We write our document under `diffgraph` and, when every node has a ComfyUI twin, the two
chunks ComfyUI itself writes and reads: `prompt` (its API format, what ran) and `workflow`
(its editor format, what the editor restores).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from PIL import Image as PILImage
from PIL import PngImagePlugin

OUR_CHUNK = "diffgraph"
COMFY_PROMPT_CHUNK = "prompt"
COMFY_WORKFLOW_CHUNK = "workflow"


def png_info(texts: dict[str, str]) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    return info


def read_texts(source: str | Path | BinaryIO) -> dict[str, str]:
    """The text chunks of a PNG file (a path, or an open binary file)."""
    with PILImage.open(source) as image:
        if image.format != "PNG":
            raise ValueError(f"it is a {image.format} file, not a PNG")
        image.load()
        return {str(k): str(v) for k, v in getattr(image, "text", {}).items()}
