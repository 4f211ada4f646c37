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

from engine.jsontext import dump_json
from engine.registry import Registry
from engine.workflow import Workflow
from formats.comfy_api import to_comfy_api
from formats.comfy_editor_write import to_comfy_ui

OUR_CHUNK = "diffgraph"
COMFY_PROMPT_CHUNK = "prompt"
COMFY_WORKFLOW_CHUNK = "workflow"


def png_info(texts: dict[str, str]) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    return info


def read_texts(source: str | Path | BinaryIO) -> dict[str, str]:
    """The text chunks of a PNG file (a path, or an open binary file); OSError or
    ValueError when it cannot be read as one."""
    try:
        with PILImage.open(source) as image:
            if image.format != "PNG":
                raise ValueError(f"it is a {image.format} file, not a PNG")
            image.load()
            return {str(k): str(v) for k, v in getattr(image, "text", {}).items()}
    except PILImage.DecompressionBombError as exc:  # not an OSError: said as a bad file
        raise ValueError(str(exc)) from None


def workflow_texts(workflow: Workflow, registry: Registry) -> dict[str, str]:
    """The text chunks that let a saved image be dropped back in to restore its graph, in
    diffgraph and in ComfyUI: ours always, ComfyUI's two when the graph can be said there."""
    texts = {OUR_CHUNK: workflow.to_json(indent=None)}
    comfy = to_comfy_api(workflow, registry)
    if comfy is not None:
        texts[COMFY_PROMPT_CHUNK] = dump_json(comfy)
    editor = to_comfy_ui(workflow, registry)
    if editor is not None:
        texts[COMFY_WORKFLOW_CHUNK] = dump_json(editor)
    return texts
