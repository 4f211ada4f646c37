"""Reading a workflow from whatever a user has: our JSON, ComfyUI's API-format or editor
JSON, or a PNG that carries one. The one entry point is `load_document`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO

from engine.jsontext import JSONRefused, parse_json
from engine.registry import Registry
from engine.workflow import DocumentError, Workflow, parse_workflow, read_json
from formats.comfy_api import from_comfy_api, is_comfy_api, is_comfy_ui
from formats.comfy_editor import from_comfy_ui
from formats.png import COMFY_PROMPT_CHUNK, COMFY_WORKFLOW_CHUNK, OUR_CHUNK, read_texts


def to_workflow(data: Any, registry: Registry) -> Workflow:
    """Decoded JSON in any format we read -> our workflow document."""
    if is_comfy_api(data):
        return from_comfy_api(data, registry)
    if is_comfy_ui(data):
        return from_comfy_ui(data, registry)
    return parse_workflow(data)


def load_document(path: str | Path, registry: Registry) -> Workflow:
    """Read a workflow file: .json in our or ComfyUI's formats, or a .png carrying one."""
    path = Path(path)
    if path.suffix.lower() == ".png":
        return _from_png(path, registry)
    return to_workflow(read_json(path), registry)


def from_png_bytes(data: bytes, registry: Registry, name: str = "the PNG") -> Workflow:
    """The workflow a PNG carries, from its bytes (an upload, a file dropped in the editor)."""
    return _from_png(io.BytesIO(data), registry, name)


def _from_png(source: Path | BinaryIO, registry: Registry, path: object = None) -> Workflow:
    path = source if path is None else path
    try:
        texts = read_texts(source)
    except FileNotFoundError:
        raise DocumentError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise DocumentError(f"{path}: cannot read it as a PNG ({exc})") from None
    # Ours first (exact), then what ComfyUI actually ran, then its editor graph.
    for chunk in (OUR_CHUNK, COMFY_PROMPT_CHUNK, COMFY_WORKFLOW_CHUNK):
        if chunk in texts:
            try:
                return to_workflow(parse_json(texts[chunk]), registry)
            except JSONRefused as exc:
                raise DocumentError(f"{path}: its {chunk!r} chunk: {exc}") from None
    raise DocumentError(
        f"{path}: this PNG carries no workflow (no diffgraph, prompt or workflow text chunk)"
    )
